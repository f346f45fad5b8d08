/**
 * Two reports as probes send them and a mutator that breaks them one field at a time: the corpus the
 * compiled validators are checked against zod with (shared/fast-parse.test.ts, shared/report-core.test.ts).
 */
import { prng } from './prng.js';
export const browserReport = {
  id: 'job-1:0',
  jobId: 'job-1',
  seq: 0,
  sweepId: 'sw-1',
  target: { id: 'ch1', url: 'https://cdn.example.com/live/ch1/master.m3u8', protocol: 'hls' },
  region: 'eu-west',
  agentId: 'agent-1',
  probe: 'browser',
  mode: 'check',
  startedAt: '2026-11-27T11:00:00.000Z',
  endedAt: '2026-11-27T11:00:30.000Z',
  outcome: 'degraded',
  reasons: ['startup 4100 ms > 4000 ms expected'],
  latency_method: 'stamp',
  metrics: { startup_ms: 4100, g2g_p50_ms: 4200, stall_count: 1, rebuffer_ratio: 0.01, bitrate_switches: 2 },
  startup: { manifest_ms: 80, media_playlist_ms: 150, first_frame_ms: 4100 },
  segments: [
    {
      at: 1,
      rendition: '360p',
      sn: 10,
      url: 'https://cdn/x/1.ts',
      bytes: 2000,
      ttfb_ms: 20,
      download_ms: 40,
    },
    { at: 2, url: 'https://cdn/x/2.ts', bytes: 2000, ttfb_ms: 21, download_ms: 41 },
  ],
  errors: [{ at: 3, category: 'http', type: 'networkError', details: 'fragLoadError', status: 404 }],
  renditions: [
    { rendition: '360p', height: 360, bitrate: 800_000, time_ms: 21_000 },
    { rendition: '240p', time_ms: 4_000 },
  ],
  version: '0.1.0',
};

export const streamReport = {
  id: 'job-2:3',
  jobId: 'job-2',
  seq: 3,
  target: { id: 'ch2', url: 'http://127.0.0.1:8080/dash/manifest.mpd', protocol: 'dash' },
  region: 'us-east',
  agentId: 'agent-2',
  probe: 'stream',
  mode: 'watch',
  startedAt: '2026-11-27T11:00:00+01:00',
  endedAt: '2026-11-27T11:00:02+01:00',
  outcome: 'failed',
  reasons: [],
  metrics: { errors_http: 3, errors_conformance: 1, segment_ttfb_p50_ms: 12.5 },
  findings: [
    { code: 'playlist-stale', severity: 'critical', variant: 'v1', at: 5, evidence: 'mseq 10 for 12 s' },
    { code: 'http-status', severity: 'warning', variant: 'v2', at: 6, count: 4, evidence: '404' },
  ],
  version: '0.1.0',
};

const REPLACEMENTS: unknown[] = [
  null,
  '',
  'x'.repeat(5000),
  -1,
  1.5,
  2 ** 60,
  true,
  [],
  {},
  'not-a-date',
  '2026-02-30T00:00:00Z',
  '2026-11-27T11:00:00',
  'ftp://cdn.example.com/x',
  ' http://cdn.example.com/x ',
  'http://',
  'bogus',
  'has space',
  0,
  'critical',
  'ok',
];

export type Node = Record<string, unknown> | unknown[];

function paths(
  v: unknown,
  at: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  if (v && typeof v === 'object') {
    for (const [k, c] of Object.entries(v)) {
      const p = [...at, Array.isArray(v) ? Number(k) : k];
      out.push(p);
      paths(c, p, out);
    }
  }
  return out;
}

export function mutate(obj: Node, rand: () => number): void {
  const all = paths(obj);
  const path = all[Math.floor(rand() * all.length)] as (string | number)[];
  let parent: Node = obj;
  for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, unknown>)[k] as Node;
  const key = path[path.length - 1] as string | number;
  const p = parent as Record<string | number, unknown>;
  const op = rand();
  if (op < 0.2) delete p[key];
  // (Only objects get an unknown key: JSON cannot give an array named properties.)
  else if (op < 0.3 && !Array.isArray(parent)) p.extra = { nested: 1 };
  else if (op < 0.35 && Array.isArray(p[key]))
    p[key] = Array.from({ length: 301 }, () => (p[key] as unknown[])[0]);
  else p[key] = structuredClone(REPLACEMENTS[Math.floor(rand() * REPLACEMENTS.length)]);
}

/** `count` reports, each one of the two broken in 1-3 places, seeded 1..count: the same corpus every run. */
export function* mutatedReports(count: number): Generator<[seed: number, input: Node]> {
  for (let seed = 1; seed <= count; seed++) {
    const rand = prng(seed);
    const input = structuredClone(seed % 2 ? browserReport : streamReport) as Node;
    const n = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) mutate(input, rand);
    yield [seed, input];
  }
}
