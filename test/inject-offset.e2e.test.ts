/**
 * The injector's clock offset is re-measured periodically and applied to the running painter (a filter
 * command on ffmpeg's stdin, no restart): a reference clock that moves 90 ms ahead shows up in the
 * heartbeat's clockOffsetMs and appliedOffsetMs, and in the stamps of the frames painted after it, with no
 * new ffmpeg run. Real nats-server, real ffmpeg; the time service is a stand-in that can be made to lie.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInjector } from '../injector/index.js';
import { InjectOptions } from '../injector/options.js';
import { loadConfig } from '../shared/config.js';
import { createLogger } from '../shared/log.js';
import { names as subjectNames } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import { waitFor } from './helpers/fleet.js';
import { startNats, tempDir } from './helpers/procs.js';

const logger = createLogger('inject-offset', process.env.LIVEPROBE_LOG_LEVEL ?? 'silent');
const SKEW_MS = 90;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe('injector clock offset: refreshed while painting', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let nc: NatsConnection;
  const dir = tempDir('inject-offset');
  /** The reference clock's lead over this host's. */
  let skew = 0;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    nc.subscribe(subjectNames('liveprobe').time, {
      callback: (_e, m) => m.respond(encodeJson({ now: Date.now() + skew })),
    });
    await nc.flush();
    const r = spawnSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=s=320x180:r=30', '-t', '2'],
      ...[
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-g',
        '30',
        '-f',
        'mpegts',
        '-y',
        join(dir.path, 'in.ts'),
      ],
    ]);
    expect(r.status).toBe(0);
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    dir.remove();
  });

  it('a reference clock moving 90 ms ahead is followed by heartbeat and stamps, without a restart', async () => {
    const running = await startInjector({
      options: InjectOptions.parse({
        in: join(dir.path, 'in.ts'),
        out: join(dir.path, 'out.ts'),
        id: 21,
        loop: true,
        videoBitrate: 500_000,
        offsetRefreshS: 5,
      }),
      config: loadConfig({ env: {}, overrides: { 'nats.url': nats.url } }),
      logger,
    });
    // stamp minus the frame's own time: constant while the offset is (the input is read at its own rate)
    const lead: Array<{ at: number; v: number }> = [];
    running.injector.on('stamp', (s: { pts: number; stamp: number }) =>
      lead.push({ at: Date.now(), v: s.stamp - s.pts / 90 }),
    );
    try {
      await waitFor('painting', () => running.injector.stats().framesPainted >= 30, 30_000, 100);
      const first = running.heartbeat();
      expect(first.clockSource).toBe('controller');
      expect(Math.abs(first.appliedOffsetMs)).toBeLessThan(30);
      const measuredAt = first.offsetMeasuredAt;
      skew = SKEW_MS;
      const movedAt = Date.now();
      // the periodic refresh (every 5 s here) measures and applies it: no call from the test
      const hb = await waitFor(
        'the re-measured offset applied',
        () => {
          const h = running.heartbeat();
          return h.offsetMeasuredAt !== measuredAt && Math.abs(h.appliedOffsetMs + SKEW_MS) < 30
            ? h
            : undefined;
        },
        20_000,
        100,
      );
      expect(hb.clockOffsetMs).toBeDefined();
      expect(Math.abs((hb.clockOffsetMs as number) + SKEW_MS)).toBeLessThan(30);
      const appliedAt = Date.now();
      await waitFor(
        'frames painted after it',
        () => lead.filter((l) => l.at > appliedAt + 500).length >= 30,
        20_000,
        100,
      );
      const before = median(lead.filter((l) => l.at < movedAt).map((l) => l.v));
      const after = median(lead.filter((l) => l.at > appliedAt + 500).map((l) => l.v));
      // stamps = host clock - offset: the reference moved 90 ms ahead, so did the stamps (no new run)
      expect(after - before).toBeGreaterThan(SKEW_MS - 30);
      expect(after - before).toBeLessThan(SKEW_MS + 30);
      expect(running.injector.stats().restarts).toBe(0);
      expect(running.heartbeat().mode).toBe('paint');
      console.log(JSON.stringify({ shiftMs: Math.round(after - before), applied: hb.appliedOffsetMs }));
    } finally {
      await running.stop();
    }
  }, 90_000);
});
