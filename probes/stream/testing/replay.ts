/**
 * Replays a sequence of playlist / MPD bodies through the real monitors without a network: what the fuzz test
 * drives. The scheduler is closed (nothing is scheduled), every outgoing request (segments, UTCTiming) fails
 * at once, and the result is the run's summary report.
 */
import type { ProbeResult } from '../../../shared/schemas.js';
import { DashRun } from '../dash-monitor.js';
import { HlsRun } from '../hls-monitor.js';
import type { HttpOk, HttpResult, RequestOptions } from '../http.js';
import { resolveOptions, type StreamProberOptions } from '../options.js';
import { Scheduler } from '../scheduler.js';
import { SegmentFetcher } from '../segments.js';
import { Session } from '../session.js';

const offline = {
  async request(url: string, _o: RequestOptions): Promise<HttpResult> {
    return {
      ok: false,
      kind: 'network',
      error: 'offline replay',
      url,
      phases: {
        at: 0,
        start: 0,
        dns_ms: 0,
        connect_ms: 0,
        tls_ms: 0,
        ttfb_ms: 0,
        total_ms: 0,
        reused: false,
      },
    };
  },
};

function response(url: string, body: string, at: number, headers: Record<string, string> = {}): HttpOk {
  return {
    ok: true,
    status: 200,
    headers,
    body,
    bytes: body.length,
    url,
    phases: { at, start: 0, dns_ms: 0, connect_ms: 0, tls_ms: 0, ttfb_ms: 1, total_ms: 1, reused: true },
  };
}

function session(protocol: 'hls' | 'dash', url: string, options: StreamProberOptions): Session {
  const opts = resolveOptions({ segmentFetch: 'newest', ...options });
  const scheduler = new Scheduler();
  scheduler.close();
  return new Session(
    {
      opts,
      http: offline,
      scheduler,
      segments: new SegmentFetcher(offline, scheduler, {
        maxConcurrent: 4,
        method: opts.segmentMethod,
        rangeBytes: opts.rangeBytes,
        timeoutMs: 1000,
      }),
      onPollLate: () => {},
    },
    { target: { id: 'replay', url, protocol }, mode: 'check', durationS: 1, expectations: {} },
  );
}

export interface ReplayStep {
  body: string;
  /** Which media playlist monitor gets it (HLS, after a master): index into the followed renditions. */
  rendition?: number;
  headers?: Record<string, string>;
}

/**
 * HLS: the first body is the entry document (master or media playlist); later bodies go to the media
 * monitor `rendition` (default 0), one second apart on the monotonic clock.
 */
export async function replayHls(
  steps: ReplayStep[],
  options: StreamProberOptions = {},
): Promise<ProbeResult> {
  const url = 'http://replay.invalid/live/master.m3u8';
  const s = session('hls', url, options);
  const run = new HlsRun(s, url);
  let t = 1000;
  let wall = Date.now();
  steps.forEach((step, i) => {
    const r = response(url, step.body, wall, step.headers);
    if (i === 0) run.acceptEntry(r, t);
    else {
      const ms = run.monitors();
      const m = ms[(step.rendition ?? 0) % Math.max(1, ms.length)];
      if (m) m.ingest(t, { ...r, url: m.entry.url });
      else run.acceptEntry(r, t);
    }
    if (i % 3 === 2) run.drift();
    t += 1000;
    wall += 1000;
  });
  run.drift();
  await new Promise((r) => setImmediate(r));
  run.stop();
  s.close();
  return s.result(s.total);
}

export async function replayDash(
  steps: ReplayStep[],
  options: StreamProberOptions = {},
): Promise<ProbeResult> {
  const url = 'http://replay.invalid/live/manifest.mpd';
  const s = session('dash', url, options);
  const run = new DashRun(s, url);
  let t = 1000;
  let wall = Date.now();
  for (const step of steps) {
    run.ingest(t, response(url, step.body, wall, step.headers));
    t += 1000;
    wall += 1000;
  }
  await new Promise((r) => setImmediate(r));
  run.stop();
  s.close();
  return s.result(s.total);
}
