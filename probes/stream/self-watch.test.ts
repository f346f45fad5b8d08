import { describe, expect, it } from 'vitest';
import { SelfWatch } from '../self-watch.js';
import { httpStatusObservation } from './checks/http.js';
import { manifestUnavailable } from './checks/manifest.js';
import { resolveOptions } from './options.js';
import { Scheduler } from './scheduler.js';
import { SegmentFetcher } from './segments.js';
import { MASTER, Session } from './session.js';

/** Holds this very process's event loop, as an overloaded host would. */
async function blockLoop(ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spinning on purpose
  }
  // Let the event-loop delay monitor take its sample of the block.
  await new Promise((r) => setTimeout(r, 50));
}

function session(): Session {
  const opts = resolveOptions({ segmentFetch: 'none' });
  const scheduler = new Scheduler();
  scheduler.close();
  const http = {
    async request(url: string) {
      return { ok: false as const, kind: 'network' as const, error: 'offline', url, phases: undefined };
    },
  };
  return new Session(
    {
      opts,
      http: http as never,
      scheduler,
      segments: new SegmentFetcher(http as never, scheduler, {
        maxConcurrent: 1,
        method: opts.segmentMethod,
        rangeBytes: opts.rangeBytes,
        timeoutMs: 1000,
      }),
      onPollLate: () => {},
    },
    {
      target: { id: 't', url: 'http://127.0.0.1:1/live.m3u8', protocol: 'hls' },
      mode: 'check',
      durationS: 1,
      expectations: {},
    },
  );
}

const stale = {
  code: 'playlist-stale' as const,
  severity: 'critical' as const,
  summary: 'no new segment for 3.4 s (> 1.5 x TARGETDURATION 2 s)',
  evidence: 'EXT-X-MEDIA-SEQUENCE:10',
};

describe('self-watch: our own lateness is not the stream’s fault', () => {
  it('a window in which our event loop was blocked is late, with the lag as the cause', async () => {
    const w = new SelfWatch();
    const from = Date.now();
    await blockLoop(1800);
    const c = w.check(from);
    w.close();
    expect(c.late).toBe(true);
    expect(c.loop_lag_max_ms).toBeGreaterThanOrEqual(1500);
    expect(c.cause).toMatch(/event loop ran up to \d+ ms late/);
  });

  it('a timing finding found while the probe was late makes the report inconclusive (probe-error), not failed', async () => {
    const s = session();
    s.renditions.add('360p');
    s.observe('360p', stale);
    await blockLoop(1800);
    const r = s.result(s.total);
    s.release();
    expect(r.outcome).toBe('probe-error');
    expect(r.flags).toEqual(['inconclusive']);
    expect(r.reasons[0]).toMatch(
      /^inconclusive: the probe's event loop ran up to \d+ ms late.*playlist-stale/,
    );
    // The finding stays in the report (it is what the probe saw), but the report no longer blames the stream.
    expect(r.findings.map((f) => f.code)).toEqual(['playlist-stale']);
    expect(r.selfCheck?.late).toBe(true);
  });

  it('the same finding from a punctual probe stays the stream’s', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // past the previous test's slot
    const s = session();
    s.renditions.add('360p');
    s.observe('360p', stale);
    const r = s.result(s.total);
    s.release();
    expect(r.outcome).toBe('failed');
    expect(r.flags).toBeUndefined();
    expect(r.selfCheck?.late).toBe(false);
  });

  /** What a master re-fetch that got no answer in time records (hls-monitor entryFailed + requestFailed). */
  const masterTimedOut = () => {
    const error = 'timeout after 4000 ms';
    const url = 'http://127.0.0.1:1/live.m3u8';
    return [
      httpStatusObservation({ resource: 'master', url, error, timedOut: true }),
      manifestUnavailable({ what: 'master playlist', url, error, timedOut: true, failures: 1 }),
    ];
  };

  it('manifest-unavailable from a re-fetch that timed out while the probe was late: inconclusive', async () => {
    const s = session();
    s.renditions.add('360p');
    for (const o of masterTimedOut()) s.observe(MASTER, o);
    await blockLoop(1800);
    const r = s.result(s.total);
    s.release();
    expect(r.outcome).toBe('probe-error');
    expect(r.flags).toEqual(['inconclusive']);
    expect(r.reasons[0]).toMatch(
      /^inconclusive: the probe's event loop ran up to \d+ ms late.*could explain http-status, manifest-unavailable/,
    );
    expect(r.findings.map((f) => f.code).sort()).toEqual(['http-status', 'manifest-unavailable']);
  });

  it('a master answering 500 is the stream’s even when the probe was late (and stale with it)', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const s = session();
    s.renditions.add('360p');
    const url = 'http://127.0.0.1:1/live.m3u8';
    s.observe(MASTER, httpStatusObservation({ resource: 'master', url, status: 500 }));
    s.observe(MASTER, manifestUnavailable({ what: 'master playlist', url, status: 500, failures: 1 }));
    s.observe('360p', stale);
    await blockLoop(1800);
    const r = s.result(s.total);
    s.release();
    expect(r.selfCheck?.late).toBe(true);
    expect(r.outcome).toBe('failed');
    expect(r.flags).toBeUndefined();
    expect(
      r.reasons.some((x) =>
        /^the probe ran late .*playlist-stale may be ours; .*manifest-unavailable cannot be/.test(x),
      ),
    ).toBe(true);
  });

  it('a warning lateness cannot explain does not outweigh it: late + stale + pdt-drift is inconclusive', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const s = session();
    s.renditions.add('360p');
    s.observe('360p', stale);
    s.observe('360p', {
      code: 'pdt-drift',
      severity: 'warning',
      summary: 'EXT-X-PROGRAM-DATE-TIME of segment 7 is +1313 ms off the previous PDT + EXTINF',
      evidence: '',
    });
    await blockLoop(1800);
    const r = s.result(s.total);
    s.release();
    expect(r.outcome).toBe('probe-error');
    expect(r.flags).toEqual(['inconclusive']);
    expect(r.findings.map((f) => f.code).sort()).toEqual(['pdt-drift', 'playlist-stale']);
  });

  it('one timed-out and one 500 re-fetch: the finding is the stream’s', () => {
    const s = session();
    const url = 'http://127.0.0.1:1/live.m3u8';
    const [, timedOut] = masterTimedOut();
    s.observe(MASTER, timedOut as never);
    s.observe(MASTER, manifestUnavailable({ what: 'master playlist', url, status: 500, failures: 2 }));
    const e = s.total.book.all().find((x) => x.code === 'manifest-unavailable');
    s.release();
    expect(timedOut?.timing).toBe(true);
    expect(e?.count).toBe(2);
    expect(e?.timing).toBe(false);
  });
});
