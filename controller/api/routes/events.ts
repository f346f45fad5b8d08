import { z } from 'zod';
import type { Report } from '../../../shared/schemas.js';
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
  /** Resume after this report id (for clients that cannot set the Last-Event-ID header). */
  lastEventId: z.coerce.number().int().nonnegative().optional(),
});

/** Reports replayed on a resume at most; a client further behind gets a `resync` event instead. */
const MAX_REPLAY = 10_000;

/** A client further behind than this is cut off rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * Server-sent events: reports, sweep progress, agent online/offline and alert state changes as they
 * happen. Reports are sent in full (same schema as /v1/results). A comment line every 15 s keeps proxies
 * from closing the stream.
 *
 * Resumable: a report's event id is its results-stream sequence, so a client reconnecting with
 * Last-Event-ID gets the reports it missed replayed from the stream, in order, before live ones (no gap,
 * no repeat). Other events carry no id (they are state changes: re-read the resource after a reconnect).
 */
export const eventRoutes = (s: Services) => async (app: App) => {
  // Open streams never go idle: end them when the server closes, or close() would wait for them forever
  // (every open command-center page holds one).
  const open = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  // The newest report sequence seen, so a fresh client learns an id to resume from before its first report
  // (every report ingested here, and the live feed's while it runs).
  let newestSeq = 0;
  const newest = (_r: unknown, seq: number) => {
    newestSeq = Math.max(newestSeq, seq);
  };
  s.events.on('ingested', newest);
  s.events.on('report', newest);
  app.get('/v1/events', { schema: { querystring: EventsQuery } }, (req, reply) => {
    const { types, target } = req.query;
    const slot = s.sse?.admit(req.principal?.name ?? req.ip) ?? { release: () => {} };
    if ('refused' in slot) {
      return reply
        .code(429)
        .header('retry-after', '10')
        .send({ error: 'too-many-requests', message: slot.refused });
    }
    const header = Number(req.headers['last-event-id']);
    const resumeAfter = Number.isSafeInteger(header) && header >= 0 ? header : req.query.lastEventId;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': liveprobe events\n\n');
    const full = seesSecrets(req);
    const send = (type: string, data: unknown, id?: number) => {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        req.log.warn({ principal: req.principal?.name }, 'SSE client too slow; disconnected');
        res.destroy();
        return;
      }
      res.write(
        `${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(full ? data : redactDeep(data))}\n\n`,
      );
    };
    // Reports: live ones wait in `held` while missed ones are replayed; `sent` drops what both delivered.
    let sent = resumeAfter ?? 0;
    let held: [Report, number][] | undefined = resumeAfter !== undefined ? [] : undefined;
    const sendReport = (r: Report, seq: number) => {
      if (seq <= sent) return;
      sent = seq;
      send('report', r, seq);
    };
    if (resumeAfter === undefined && newestSeq > 0 && types.includes('report'))
      res.write(`id: ${newestSeq}\n\n`);
    const listeners: [keyof ControllerEvents, (...args: never[]) => void][] = [];
    const on = <K extends keyof ControllerEvents>(type: K, fn: (...args: ControllerEvents[K]) => void) => {
      s.events.on(type, fn as never);
      listeners.push([type, fn as never]);
    };
    if (types.includes('report'))
      on('report', (r, seq) => {
        if (target && r.target.id !== target) return;
        if (held) held.push([r, seq]);
        else sendReport(r, seq);
      });
    if (types.includes('sweep')) on('sweep', (p) => send('sweep', p));
    if (types.includes('agent')) on('agent', (a) => send('agent', a));
    if (types.includes('alert'))
      on('alert', (e) => (!target || e.alert.labels.target === target) && send('alert', e));
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
    open.add(res);
    res.on('close', () => {
      open.delete(res);
      slot.release();
      clearInterval(keepalive);
      for (const [type, fn] of listeners) s.events.off(type, fn as never);
    });
    if (held && resumeAfter !== undefined) {
      const replay = types.includes('report')
        ? s.results.after(resumeAfter, { target }, sendReport, {
            max: MAX_REPLAY,
            stopped: () => res.destroyed,
          })
        : Promise.resolve(0);
      replay
        .then((beyond) => {
          if (beyond > 0)
            send('resync', { reason: `more than ${MAX_REPLAY} reports missed`, missed: beyond + MAX_REPLAY });
        })
        .catch((err) => {
          req.log.warn({ err }, 'SSE replay failed');
          send('resync', { reason: 'the missed reports could not be replayed' });
        })
        .finally(() => {
          for (const [r, seq] of held ?? []) sendReport(r, seq);
          held = undefined;
        });
    }
  });
};
