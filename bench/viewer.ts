/**
 * npm run bench:viewer — issue #21: what viewers notice beyond the picture. Each viewer fault is injected
 * `runs` times (default 5) on the real testbed (full ladder, TD `segment` s, default 1) while watches run;
 * detection and the time from injection (the testbed's truth log) to the first report that shows it. Source
 * faults reach a player about 3.5 segments after capture, so 1 s segments are what a 5 s budget allows.
 *
 *   node dist/bench/viewer.js [--runs 5] [--warmup 20] [--baseline 60] [--timeout 20] [--settle 6] [--linger 10]
 *                             [--segment 1] [--live-sync 2] [--catch-up 1.25] [--faults audio-silence,av-drift]
 *                             [--verbose]
 *
 * The browser watches play as a latency-tuned live player of 1 s segments does: hls.js 2 segments behind the
 * newest (--live-sync; hls.js default 3) and catching up at up to 1.25x after a stall (--catch-up; hls.js
 * default 1, i.e. never). A source fault reaches the viewer one glass-to-glass latency after injection, so
 * that latency is most of every browser detection time.
 *
 * --faults runs a subset (m = runs x the faults run); --verbose prints each browser report's audio figures.
 *
 * Watches (probe level, no controller: the probes' own reports, interval 1 s):
 *   stream   StreamProber watch of the hls-ts master (every rendition incl. the WebVTT one; segmentFetch
 *            newest = each new segment of each rendition is downloaded, so every segment's size is measured)
 *   browser  BrowserProber watch of the hls-ts master (real Chromium, hls.js, Web Audio analysis)
 *   browser-check  a fresh browser check started right after injection, for faults a running player cannot
 *            see (resolution-lie edits the master, which hls.js reads once)
 *
 * Faults and what counts as detection (first report time, or the finding's `at` when there is one):
 *   captions-stale  hls-ts subs      stream: finding captions-stale on subs/index.m3u8
 *   bitrate-over    hls-ts 240p x3   stream: finding bandwidth-exceeded on 240p/index.m3u8
 *   audio-silence   source           browser: metrics.silent_ms > 0 (or a finding/reason audio-silent)
 *   audio-drop      hls-ts           browser: finding audio-missing, or metrics.audio_missing_ms > 0 (the full
 *                                    ladder's audio is a demuxed rendition: its segments without audio)
 *   av-drift        source 400 ms    browser: metrics.av_offset_abs_ms > 200 (A/V offset, marker or buffer)
 *   resolution-lie  hls-ts 360p      browser-check: finding/reason resolution-mismatch
 * A fault type the testbed does not have yet (another helper's, not landed) is listed as "not available"
 * and its injections count as not detected.
 *
 * A run: inject -> wait for detection (at most `timeout` s) -> remove -> `settle` s. Before the first run a
 * `baseline` of healthy watching; any of the signals above outside [injection, removal + settle] of a fault
 * that explains it (browser signals: + `linger` s, the player's buffer still plays what was injected) is a
 * false positive (counted per report that shows it).
 *
 * Last line: detected=<n>/<m> false_positive=<n> ttd_p95_ms=<n>   (m = runs x faults; p95 nearest-rank over the
 * detected injections; figures taken on a shared machine need a quiet rerun)
 */
import { BrowserProber } from '../probes/browser/index.js';
import { StreamProber } from '../probes/stream/index.js';
import type { ProbeJob } from '../probes/types.js';
import { createLogger } from '../shared/log.js';
import type { ProbeResult } from '../shared/schemas.js';
import { FAULT_TYPES, startTestbed, type Testbed } from '../testbed/index.js';
import { arg, sleep } from './browser-lib.js';
import { percentile, printTable } from './lib.js';

const RUNS = Number(arg('runs', '5'));
const WARMUP_S = Number(arg('warmup', '20'));
const BASELINE_S = Number(arg('baseline', '60'));
const TIMEOUT_MS = Number(arg('timeout', '20')) * 1000;
const SETTLE_MS = Number(arg('settle', '6')) * 1000;
/** Browser signals after a removal that the removed fault still explains (player buffer, ~3 segments). */
const LINGER_MS = Number(arg('linger', '10')) * 1000;
const STREAM = 'hls-ts';
/** Testbed segment duration (s): a source fault reaches a player about 3.5 segments later. */
const SEGMENT_S = Number(arg('segment', '1'));
/** Only these fault types (comma-separated; default all). */
const ONLY = arg('faults', '')
  .split(',')
  .map((x) => x.trim())
  .filter(Boolean);
/** hls.js liveSyncDurationCount of the browser watches (segments behind the live edge; hls.js default 3). */
const LIVE_SYNC = Number(arg('live-sync', '2'));
/**
 * hls.js maxLiveSyncPlaybackRate: up to this rate the player speeds up to get back to its live sync position
 * after a stall (hls.js default 1 = never: every stall adds its length to the latency for good).
 */
const CATCH_UP = Number(arg('catch-up', '1.25'));
/** Print every browser watch report's audio figures (diagnosis). */
const VERBOSE = process.argv.includes('--verbose');

type Watch = 'stream' | 'browser' | 'browser-check';

interface FaultSpec {
  type: string;
  watch: Watch;
  where: string;
  fault: Record<string, unknown>;
  /** When this report shows the fault (epoch ms), else undefined. */
  seen(r: ProbeResult): number | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** First finding of `code` naming `variant` (substring); its first occurrence. */
function finding(code: string, variant?: string) {
  return (r: ProbeResult): number | undefined => {
    const f = r.findings.filter((x) => x.code === code && (!variant || x.variant.includes(variant)));
    return f.length ? Math.min(...f.map((x) => x.at)) : undefined;
  };
}

/** A browser signal: a finding or reason naming `code`, or a metric predicate; at the report's end. */
function browserSignal(code: string, metric: (m: Record<string, unknown>) => boolean) {
  return (r: ProbeResult): number | undefined => {
    const f = finding(code)(r);
    if (f !== undefined) return f;
    const hit =
      r.reasons.some((x) => x.includes(code)) || metric(r.metrics as unknown as Record<string, unknown>);
    return hit ? Date.parse(r.endedAt) : undefined;
  };
}

const SPECS: FaultSpec[] = [
  {
    type: 'captions-stale',
    watch: 'stream',
    where: `${STREAM} subs`,
    fault: { stream: STREAM, type: 'captions-stale' },
    seen: finding('captions-stale', 'subs/'),
  },
  {
    type: 'bitrate-over',
    watch: 'stream',
    where: `${STREAM} 240p x3`,
    fault: { stream: STREAM, rendition: '240p', type: 'bitrate-over', factor: 3 },
    seen: finding('bandwidth-exceeded', '240p/'),
  },
  {
    type: 'audio-silence',
    watch: 'browser',
    where: 'source',
    fault: { stream: STREAM, type: 'audio-silence' },
    seen: browserSignal('audio-silent', (m) => (num(m.silent_ms) ?? 0) > 0),
  },
  {
    type: 'audio-drop',
    watch: 'browser',
    where: STREAM,
    fault: { stream: STREAM, type: 'audio-drop' },
    seen: browserSignal('audio-missing', (m) => (num(m.audio_missing_ms) ?? 0) > 0),
  },
  {
    type: 'av-drift',
    watch: 'browser',
    where: 'source 400 ms',
    fault: { stream: STREAM, type: 'av-drift', shiftMs: 400 },
    seen: browserSignal('av-offset', (m) => (num(m.av_offset_abs_ms) ?? 0) > 200),
  },
  {
    type: 'resolution-lie',
    watch: 'browser-check',
    where: `${STREAM} 360p`,
    fault: { stream: STREAM, rendition: '360p', type: 'resolution-lie' },
    seen: browserSignal('resolution-mismatch', () => false),
  },
];

interface Window {
  spec: FaultSpec;
  from: number;
  to: number;
}

interface Row {
  spec: FaultSpec;
  available: boolean;
  note?: string;
  ttds: number[];
  missed: number;
}

async function main(): Promise<void> {
  const logger = createLogger('bench-viewer', 'warn');
  const available = new Set<string>(FAULT_TYPES);
  const unknown = ONLY.filter((t) => !SPECS.some((s) => s.type === t));
  if (unknown.length) throw new Error(`--faults: unknown ${unknown.join(', ')}`);
  const specs = ONLY.length ? SPECS.filter((s) => ONLY.includes(s.type)) : SPECS;
  const rows: Row[] = specs.map((spec) => ({
    spec,
    available: available.has(spec.type),
    ttds: [],
    missed: 0,
  }));
  const active = rows.filter((r) => r.available);
  const needBrowser = active.some((r) => r.spec.watch !== 'stream');
  process.stderr.write(
    `bench:viewer: ${active.length}/${rows.length} fault types available (${active.map((r) => r.spec.type).join(', ')}); starting the testbed\n`,
  );
  const tb: Testbed = await startTestbed({ port: 0, ladder: 'full', segmentS: SEGMENT_S, logger });
  const url = tb.streams.find((s) => s.id === STREAM)?.url;
  if (!url) throw new Error(`testbed has no ${STREAM}`);
  const windows: Window[] = [];
  const reports: Array<{ watch: Watch; r: ProbeResult }> = [];
  const listeners = new Set<(w: Watch, r: ProbeResult) => void>();
  const onReport = (watch: Watch, r: ProbeResult) => {
    reports.push({ watch, r });
    if (VERBOSE && watch !== 'stream') {
      const m = r.metrics as unknown as Record<string, unknown>;
      process.stderr.write(
        `    ${watch} ${r.endedAt.slice(11, 23)} ${r.outcome} silent=${m.silent_ms} missing=${m.audio_missing_ms} level=${m.audio_level_p50_dbfs} av=${m.av_offset_ms}/${r.av_method} g2g=${m.g2g_p50_ms} findings=${r.findings.map((f) => f.code).join(',')} reasons=${r.reasons.join(' | ').slice(0, 200)}\n`,
      );
    }
    for (const l of listeners) l(watch, r);
  };

  const ac = new AbortController();
  const stream = new StreamProber({ logger, masterIntervalS: 10 });
  const browser = needBrowser
    ? new BrowserProber({
        logger,
        maxSessions: 2,
        hlsConfig: { liveSyncDurationCount: LIVE_SYNC, maxLiveSyncPlaybackRate: CATCH_UP },
      })
    : undefined;
  const watchJob = (id: string): ProbeJob => ({
    target: { id, url, protocol: 'hls' },
    mode: 'watch',
    intervalS: 1,
    durationS: 3600,
    expectations: {},
  });
  const runs: Promise<unknown>[] = [
    stream.run(watchJob('viewer-stream'), {
      signal: ac.signal,
      logger,
      onInterval: (r) => onReport('stream', r),
    }),
  ];
  if (browser)
    runs.push(
      browser.run(watchJob('viewer-browser'), {
        signal: ac.signal,
        logger,
        onInterval: (r) => onReport('browser', r),
      }),
    );
  const started = Date.now();
  try {
    await sleep(WARMUP_S * 1000);
    process.stderr.write(`bench:viewer: healthy baseline ${BASELINE_S} s\n`);
    const baselineFrom = Date.now();
    await sleep(BASELINE_S * 1000);
    for (let run = 0; run < RUNS; run++) {
      for (const row of active) {
        const { spec } = row;
        await sleep(Math.random() * 2000);
        const record = tb.faults.inject(spec.fault, 'bench-viewer');
        const at =
          tb.faults.log().find((e) => e.id === record.id && e.event === 'inject')?.atMs ?? Date.now();
        let detectedAt: number | undefined;
        let wake = () => {};
        const check = (w: Watch, r: ProbeResult) => {
          if (w !== spec.watch || detectedAt !== undefined) return;
          const t = spec.seen(r);
          if (t === undefined || t < at) return;
          detectedAt = t;
          wake();
        };
        listeners.add(check);
        const done = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, TIMEOUT_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (spec.watch === 'browser-check' && browser) {
          // A player that loads the master after injection.
          const r = await browser
            .run(
              {
                target: { id: 'viewer-check', url, protocol: 'hls' },
                mode: 'check',
                durationS: 8,
                expectations: {},
              },
              { signal: ac.signal, logger },
            )
            .catch(() => undefined);
          if (r) onReport('browser-check', r);
        }
        await done;
        listeners.delete(check);
        tb.faults.remove(record.id);
        const removedAt = Date.now();
        // A source fault is still in the players' buffers one glass-to-glass latency after its removal.
        windows.push({
          spec,
          from: at,
          to: removedAt + SETTLE_MS + (spec.watch === 'stream' ? 0 : LINGER_MS),
        });
        if (detectedAt !== undefined) row.ttds.push(Math.max(0, detectedAt - at));
        else row.missed++;
        process.stderr.write(
          `  run ${run + 1} ${spec.type}: ${detectedAt !== undefined ? `detected after ${detectedAt - at} ms` : 'NOT detected'}\n`,
        );
        await sleep(SETTLE_MS);
      }
    }
    // False positives: a signal in a report not explained by a fault active (or just removed) at that time.
    let falsePositives = 0;
    const strays: string[] = [];
    for (const { watch, r } of reports) {
      if (Date.parse(r.endedAt) < baselineFrom) continue;
      for (const spec of specs) {
        if (spec.watch !== watch && !(spec.watch === 'browser-check' && watch === 'browser')) continue;
        const t = spec.seen(r);
        if (t === undefined) continue;
        const end = Date.parse(r.endedAt);
        const explained = windows.some(
          (w) => w.spec.type === spec.type && end >= w.from && Date.parse(r.startedAt) <= w.to,
        );
        if (!explained) {
          falsePositives++;
          if (strays.length < 10) strays.push(`${watch} ${spec.type} at ${r.endedAt}`);
        }
      }
    }
    printTable(
      rows.map((row) => {
        const sorted = [...row.ttds].sort((a, b) => a - b);
        return {
          fault: row.spec.type,
          watch: row.spec.watch,
          where: row.spec.where,
          injected: row.available ? RUNS : 0,
          detected: row.available ? `${row.ttds.length}/${RUNS}` : 'not available',
          ttd_p50_ms: sorted.length ? Math.round(percentile(sorted, 0.5)) : '-',
          ttd_p95_ms: sorted.length ? Math.round(percentile(sorted, 0.95)) : '-',
          ttd_max_ms: sorted.length ? Math.round(sorted[sorted.length - 1]!) : '-',
        };
      }),
    );
    if (strays.length)
      process.stdout.write(`false positives (first ${strays.length}): ${strays.join('; ')}\n`);
    const all = rows.flatMap((r) => r.ttds).sort((a, b) => a - b);
    process.stdout.write(
      `run ${Math.round((Date.now() - started) / 1000)} s; baseline ${BASELINE_S} s; ${reports.length} reports; figures from a shared machine need a quiet rerun\n`,
    );
    process.stdout.write(
      `detected=${all.length}/${RUNS * specs.length} false_positive=${falsePositives} ttd_p95_ms=${all.length ? Math.round(percentile(all, 0.95)) : 'NaN'}\n`,
    );
  } finally {
    ac.abort();
    await Promise.allSettled(runs);
    await stream.close();
    await browser?.close();
    await tb.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:viewer failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
