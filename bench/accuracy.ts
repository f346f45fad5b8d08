/**
 * Accuracy of the browser probe against the testbed's known truth (issue 4, item 7).
 *
 *   node dist/bench/accuracy.js [--runs 6] [--delays 0,1000,3000] [--streams hls-ts,hls-fmp4,dash]
 *                               [--duration 10]
 *
 * One full-ladder testbed; its three streams are probed side by side (one session per stream at a time,
 * three windows in one Chromium). After one uncounted warm-up session per stream, each stream gets `runs`
 * rounds; a round runs one fresh check per injected testbed publish-delay (0 = none), in a rotating order so
 * drift in machine load falls on every delay alike.
 *
 * Why fresh sessions: a publish-delay of D makes every segment appear D later, so a viewer who *starts*
 * during it watches D later. A viewer already watching does not: the player keeps its buffer (~4-6 s here)
 * and simply finds each next segment D later, so for D below its buffer it never stalls and its delay does
 * not change. Fresh sessions are the honest test.
 *
 * Why an adjustment: a fresh hls.js session starts 3 target durations behind the end of the first media
 * playlist it loads, and plays from there once its first segment is in. Its delay is therefore
 * D + that playlist's age when loaded (uniform over one segment) + the time from that load to the first frame
 * + constants, so two single runs differ by up to a segment for reasons unrelated to D. The bench measures
 * the start terms per run, independently of the picture clock: the time each served playlist version first
 * appeared at the origin (polled every 25 ms over HTTP, so it includes the injected delay) and the first
 * frame's time from the report. g2g_adj = g2g_p50_ms - (first frame - appearance of the version the player
 * started from). dash.js starts from the clock (now - availabilityStartTime - presentation delay) at MPD load,
 * so for DASH g2g_adj = g2g_p50_ms - (first frame - MPD loaded). Runs start right after a playlist update to
 * keep the HLS phase range small. The raw change in median g2g_p50_ms is printed next to the adjusted one.
 * Stalls are not adjusted for: they add real delay (and noise).
 *
 * Also per run: g2g against the same delay read from the media timeline (PDT / dash.js latency), and the
 * startup breakdown's consistency with startup_ms (browser-lib startupPartsError).
 *
 * Last line: g2g_error_p50_ms=<median over stream x non-zero delay of |adjusted change - injected|>
 *            startup_parts_error_ms=<largest inconsistency over all runs>
 */
import { BrowserProber } from '../probes/browser/index.js';
import { createLogger } from '../shared/log.js';
import type { ProbeResult } from '../shared/schemas.js';
import { type StreamInfo, startTestbed, type Testbed } from '../testbed/index.js';
import { arg, dashJsPath, fmt, median, numList, sleep, startupPartsError } from './browser-lib.js';
import { printTable } from './lib.js';

const POLL_MS = 25;

interface Change {
  /** Estimated wall time the served version first appeared (midpoint between the two polls). */
  t: number;
  lastSeq: number;
}

/** Last media sequence number listed in an HLS media playlist. */
function lastSeqOf(text: string): number | undefined {
  const m = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
  if (!m) return undefined;
  const n = (text.match(/^#EXTINF:/gm) ?? []).length;
  return n ? Number(m[1]) + n - 1 : undefined;
}

/** Polls a media playlist as the origin serves it and records when each version appeared. */
class ServedPlaylist {
  readonly changes: Change[] = [];
  private current?: number;
  private stopped = false;
  private waiters: Array<() => void> = [];
  private done?: Promise<void>;

  constructor(private readonly url: string) {}

  start(): void {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let prevStart = Date.now();
    while (!this.stopped) {
      const start = Date.now();
      try {
        const res = await fetch(this.url);
        const seq = res.ok ? lastSeqOf(await res.text()) : undefined;
        if (seq !== undefined && seq !== this.current) {
          if (this.current !== undefined) this.changes.push({ t: (prevStart + start) / 2, lastSeq: seq });
          this.current = seq;
          for (const w of this.waiters.splice(0)) w();
        }
      } catch {}
      prevStart = start;
      await sleep(POLL_MS - (Date.now() - start));
    }
  }

  /** Resolves at the next version that advances past the last one seen (not a step back). */
  async nextAdvance(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    const from = this.current ?? -1;
    while (Date.now() < until) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, until - Date.now());
      });
      if (this.current !== undefined && this.current > from) return;
    }
    throw new Error(`no playlist update at ${this.url} within ${timeoutMs} ms`);
  }

  /** The change that produced the version served at wall time t. */
  versionAt(t: number): Change | undefined {
    let found: Change | undefined;
    for (const c of this.changes) if (c.t <= t) found = c;
    return found;
  }

  changedWithin(a: number, b: number): boolean {
    return this.changes.some((c) => c.t > a && c.t <= b);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

interface RunRecord {
  stream: string;
  delay: number;
  round: number;
  outcome: ProbeResult['outcome'];
  reasons: string[];
  g2g?: number;
  /**
   * The same delay from the media timeline instead of the picture: HLS, PDT latency (the testbed's PDT is the
   * capture time, and publish-delay leaves it alone); DASH, dash.js latency + the injected delay (the testbed
   * moves availabilityStartTime, which is the capture time of media time 0, later by exactly that delay).
   */
  timelineLatency?: number;
  /** Age of the first media playlist when the player loaded it (HLS). */
  phase?: number;
  /**
   * g2g less the run's start offset: HLS, first frame - appearance at the origin of the playlist version the
   * player started from (= phase + first frame - media playlist loaded); DASH, first frame - MPD loaded.
   */
  adj?: number;
  /** A playlist update fell inside the player's request window: the version it got is uncertain. */
  ambiguous: boolean;
  stalls: number;
  startupMs?: number;
  startup?: ProbeResult['startup'];
  startupErr: number;
}

/** Wall time of loadSource, recovered from the first main segment (its `at` is loadSource + its start). */
function loadSourceWall(r: ProbeResult): number | undefined {
  const st = r.startup;
  const main = r.segments.find((s) => s.rendition !== 'audio');
  if (!st || !main || st.first_segment_ttfb_ms === undefined) return undefined;
  return main.at - (st.first_segment_ttfb_ms - main.ttfb_ms);
}

function record(
  s: StreamInfo,
  delay: number,
  round: number,
  r: ProbeResult,
  served?: ServedPlaylist,
): RunRecord {
  const m = r.metrics;
  const rec: RunRecord = {
    stream: s.id,
    delay,
    round,
    outcome: r.outcome,
    reasons: r.reasons,
    g2g: m.g2g_p50_ms,
    timelineLatency:
      s.protocol === 'dash'
        ? m.dash_latency_p50_ms === undefined
          ? undefined
          : m.dash_latency_p50_ms + delay
        : m.pdt_latency_p50_ms,
    ambiguous: false,
    stalls: m.stall_count ?? 0,
    startupMs: m.startup_ms,
    startup: r.startup,
    startupErr: startupPartsError(r.startup, m.startup_ms),
  };
  const wall = loadSourceWall(r);
  const st = r.startup;
  if (!served && rec.g2g !== undefined && st?.first_frame_ms !== undefined && st.manifest_ms !== undefined)
    rec.adj = rec.g2g - (st.first_frame_ms - st.manifest_ms);
  if (served && wall !== undefined && st?.media_playlist_ms !== undefined) {
    const loaded = wall + st.media_playlist_ms;
    const requested = wall + (st.manifest_ms ?? 0);
    const v = served.versionAt(loaded);
    if (v) rec.phase = loaded - v.t;
    if (v && rec.g2g !== undefined && st.first_frame_ms !== undefined)
      rec.adj = rec.g2g - (rec.phase! + st.first_frame_ms - st.media_playlist_ms);
    // The poll times are +-POLL_MS/2: a change that close to the request window leaves the version unsure.
    rec.ambiguous = !v || served.changedWithin(requested - POLL_MS, loaded + POLL_MS);
  }
  return rec;
}

async function probeStream(
  tb: Testbed,
  prober: BrowserProber,
  s: StreamInfo,
  delays: number[],
  runs: number,
  durationS: number,
  log: ReturnType<typeof createLogger>,
): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  let served: ServedPlaylist | undefined;
  if (s.protocol === 'hls') {
    const r360 = s.renditions.find((r) => r.name === '360p');
    if (!r360) throw new Error(`${s.id} has no 360p rendition`);
    served = new ServedPlaylist(r360.url);
    served.start();
  }
  const job = {
    target: { id: s.id, url: s.url, protocol: s.protocol },
    mode: 'check' as const,
    durationS,
    expectations: {},
    // Pinned so the first media playlist is the one polled (hls.js only; dash.js has no pin).
    ...(s.protocol === 'hls' ? { rendition: { pinHeight: 360 } } : {}),
  };
  try {
    // Warm-up (not counted): the first session of a fresh Chromium starts slower.
    if (served) await served.nextAdvance();
    await prober.run({ ...job, durationS: 4 }, { signal: new AbortController().signal, logger: log });
    for (let round = 0; round < runs; round++) {
      // Rotate the order each round: every delay takes every position equally often.
      const order = delays.map((_, i) => delays[(i + round) % delays.length]!);
      for (const delay of order) {
        const fault =
          delay > 0 ? tb.faults.inject({ stream: s.id, type: 'publish-delay', ms: delay }) : undefined;
        try {
          // Start right after a playlist update (HLS) so the start phase stays small; dash.js starts from the
          // clock, so DASH only lets the MPD with the moved availabilityStartTime be served.
          if (served) await served.nextAdvance();
          else await sleep(300);
          const res = await prober.run(job, { signal: new AbortController().signal, logger: log });
          const rec = record(s, delay, round, res, served);
          out.push(rec);
          process.stderr.write(
            `${s.id} delay=${delay} round=${round}: ${rec.outcome} g2g=${fmt(rec.g2g)} phase=${fmt(rec.phase)} adj=${fmt(rec.adj)}${rec.ambiguous && served ? ' (ambiguous)' : ''} stalls=${rec.stalls} startup=${fmt(rec.startupMs)}\n`,
          );
        } finally {
          if (fault) tb.faults.remove(fault.id);
        }
      }
    }
  } finally {
    await served?.stop();
  }
  return out;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const runs = Number(arg('runs', '6'));
  const delays = numList('delays', '0,1000,3000');
  const durationS = Number(arg('duration', '10'));
  const wanted = arg('streams', 'hls-ts,hls-fmp4,dash').split(',');
  if (!delays.includes(0)) delays.unshift(0);
  const log = createLogger('bench-accuracy', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn', 2);

  const tb = await startTestbed({ port: 0, ladder: 'full', segmentS: 2, windowSize: 6, logger: log });
  const prober = new BrowserProber({
    logger: log,
    maxSessions: wanted.length,
    // The dashjs package's exports map hides the path the prober looks for; pass the file itself.
    dashJsPath: dashJsPath(),
  });
  let records: RunRecord[] = [];
  try {
    const streams = wanted.map((id) => {
      const s = tb.streams.find((x) => x.id === id);
      if (!s) throw new Error(`no stream ${id} (have ${tb.streams.map((x) => x.id).join(', ')})`);
      return s;
    });
    console.log(
      `accuracy: testbed ${tb.url} full ladder, ${tb.segmentS} s segments; streams ${wanted.join(', ')} side by side; ` +
        `delays ${delays.join(', ')} ms; ${runs} rounds of ${durationS} s checks`,
    );
    const perStream = await Promise.all(
      streams.map((s) => probeStream(tb, prober, s, delays, runs, durationS, log)),
    );
    records = perStream.flat();
  } finally {
    await prober.close();
    await tb.stop();
  }

  const rows: Record<string, string | number>[] = [];
  const cellErrors: number[] = [];
  for (const id of wanted) {
    const mine = records.filter((r) => r.stream === id);
    const measured = mine.filter((r) => r.g2g !== undefined);
    const usable = measured.filter((r) => r.adj !== undefined && !r.ambiguous);
    const baseRaw = median(measured.filter((r) => r.delay === 0).map((r) => r.g2g!));
    const baseAdj = median(usable.filter((r) => r.delay === 0).map((r) => r.adj!));
    for (const delay of delays) {
      const all = mine.filter((r) => r.delay === delay);
      const raw = measured.filter((r) => r.delay === delay);
      const ok = usable.filter((r) => r.delay === delay);
      const d = median(ok.map((r) => r.adj!)) - baseAdj;
      const err = delay === 0 ? Number.NaN : Math.abs(d - delay);
      if (delay !== 0 && Number.isFinite(err)) cellErrors.push(err);
      const vsTimeline = raw
        .filter((r) => r.timelineLatency !== undefined)
        .map((r) => r.g2g! - r.timelineLatency!);
      rows.push({
        stream: id,
        injected_ms: delay,
        runs: `${ok.length}/${all.length}`,
        g2g_p50: fmt(median(raw.map((r) => r.g2g!))),
        phase: fmt(median(ok.filter((r) => r.phase !== undefined).map((r) => r.phase!))),
        g2g_adj: fmt(median(ok.map((r) => r.adj!))),
        d_g2g_raw: delay === 0 ? '-' : fmt(median(raw.map((r) => r.g2g!)) - baseRaw),
        d_g2g_adj: delay === 0 ? '-' : fmt(d),
        error: fmt(err),
        run_err_p50: delay === 0 ? '-' : fmt(median(ok.map((r) => Math.abs(r.adj! - baseAdj - delay)))),
        g2g_vs_timeline: fmt(median(vsTimeline)),
        stalls: all.reduce((a, r) => a + r.stalls, 0),
        not_ok: all.filter((r) => r.outcome !== 'ok').length,
        startup: fmt(median(all.filter((r) => r.startupMs !== undefined).map((r) => r.startupMs!))),
        parts_err: fmt(Math.max(0, ...all.map((r) => r.startupErr).filter(Number.isFinite)), 1),
      });
    }
  }
  console.log('');
  printTable(rows);
  console.log(
    [
      'g2g_p50: median over the runs of g2g_p50_ms; phase: age of the first media playlist at load (HLS);',
      'g2g_adj: g2g_p50_ms - (first frame - appearance of the playlist version started from) for HLS,',
      '  - (first frame - MPD loaded) for DASH; d_*: change of the median against injected 0; error = |d_g2g_adj - injected|;',
      'run_err_p50: median over single runs of |g2g_adj - baseline median - injected|;',
      'g2g_vs_timeline: g2g - the same delay from the media timeline (HLS: PDT latency; DASH: dash.js latency +',
      '  injected, as the fault moves availabilityStartTime by it), median over runs; runs: usable/all',
      '(a run is unusable when it measured no g2g or a playlist update fell inside its request window).',
    ].join('\n'),
  );
  const failed = records.filter((r) => r.g2g === undefined);
  for (const r of failed)
    console.log(`no g2g: ${r.stream} delay=${r.delay} ${r.outcome}: ${r.reasons.join('; ')}`);
  const reasons = new Map<string, number>();
  for (const r of records)
    for (const x of r.reasons)
      reasons.set(x.replace(/\d+/g, 'N'), (reasons.get(x.replace(/\d+/g, 'N')) ?? 0) + 1);
  for (const [x, n] of reasons) console.log(`outcome reason in ${n} run(s): ${x}`);
  const worst = [...records].sort((a, b) => (b.startupErr || 0) - (a.startupErr || 0))[0];
  if (worst?.startupErr)
    console.log(
      `largest startup inconsistency: ${worst.stream} delay=${worst.delay} startup_ms=${worst.startupMs} ${JSON.stringify(worst.startup)}`,
    );
  const partsErrs = records.map((r) => r.startupErr).filter(Number.isFinite);
  if (partsErrs.length === 0 || cellErrors.length === 0) throw new Error('nothing measured');
  console.log(`runtime ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log(
    `g2g_error_p50_ms=${Math.round(median(cellErrors))} startup_parts_error_ms=${Math.max(...partsErrs).toFixed(1)}`,
  );
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
