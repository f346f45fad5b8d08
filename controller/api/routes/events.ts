import { z } from 'zod';
import type { ControllerEvents } from '../../events.js';
import { redactDeep, seesSecrets } from '../redact.js';
import type { App, Services } from '../server.js';

const EVENT_TYPES = [
  'report',
  'sweep',
  'agent',
  'alert',
] as const satisfies readonly (keyof ControllerEvents)[];

const EventsQuery = z.object({
  /** Comma-separated subset of event types; default all. */
  types: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return [...EVENT_TYPES];
      const list = v.split(',').map((t) => t.trim());
      const bad = list.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
      if (bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown event type(s) ${bad.join(', ')}; use ${EVENT_TYPES.join(', ')}`,
        });
        return z.NEVER;
      }
      return list as (typeof EVENT_TYPES)[number][];
    }),
  target: z.string().max(64).optional(),
});

/** A client further behind than this is cut off rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * Server-sent events: reports, sweep progress, agent online/offline and alert state changes as they
 * happen. Reports are sent in full (same schema as /v1/results). A comment line every 15 s keeps proxies
 * from closing the stream.
 */
export const eventRoutes = (s: Services) => async (app: App) => {
  app.get('/v1/events', { schema: { querystring: EventsQuery } }, (req, reply) => {
    const { types, target } = req.query;
    const slot = s.sse?.admit(req.principal?.name ?? req.ip) ?? { release: () => {} };
    if ('refused' in slot) {
      return reply
        .code(429)
        .header('retry-after', '10')
        .send({ error: 'too-many-requests', message: slot.refused });
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': liveprobe events\n\n');
    let seq = 0;
    const full = seesSecrets(req);
    const send = (type: string, data: unknown) => {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        req.log.warn({ principal: req.principal?.name }, 'SSE client too slow; disconnected');
        res.destroy();
        return;
      }
      res.write(`id: ${++seq}\nevent: ${type}\ndata: ${JSON.stringify(full ? data : redactDeep(data))}\n\n`);
    };
    const listeners: [keyof ControllerEvents, (...args: never[]) => void][] = [];
    const on = <K extends keyof ControllerEvents>(type: K, fn: (...args: ControllerEvents[K]) => void) => {
      s.events.on(type, fn as never);
      listeners.push([type, fn as never]);
    };
    if (types.includes('report'))
      on('report', (r) => (!target || r.target.id === target) && send('report', r));
    if (types.includes('sweep')) on('sweep', (p) => send('sweep', p));
    if (types.includes('agent')) on('agent', (a) => send('agent', a));
    if (types.includes('alert'))
      on('alert', (e) => (!target || e.alert.labels.target === target) && send('alert', e));
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
    res.on('close', () => {
      slot.release();
      clearInterval(keepalive);
      for (const [type, fn] of listeners) s.events.off(type, fn as never);
    });
  });
};
