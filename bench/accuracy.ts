/**
 * Accuracy of the browser probe against the testbed's known truth (issue 4, item 7).
 *
 *   node dist/bench/accuracy.js [--runs 7] [--delays 0,1000,3000] [--streams hls-ts,hls-fmp4,dash]
 *                               [--duration 5] [--concurrent]
 *
 * One full-ladder testbed. After one uncounted warm-up session per stream, `runs` rounds; a round runs one
 * fresh check per stream per injected testbed publish-delay (0 = none), interleaved and in a rotating order
 * so drift in machine load falls on every delay alike. One session at a time by default (three startups
 * competing for two shared cores make startups, and so g2g, noisier); `--concurrent` runs the three streams
 * side by side instead. A session's g2g is constant to the millisecond while it plays without stalls, so a
 * few seconds of playback suffice.
 *
 * Why fresh sessions: a publish-delay of D makes every segment appear D later, so a viewer who *starts*
 * during it watches D later. A viewer already watching does not: the player keeps its buffer (~4-6 s here)
 * and simply finds each next segment D later, so for D below its buffer it never stalls and its delay does
 * not change. Fresh sessions are the honest test.
 *
 * Why an adjustment: a fresh hls.js session starts 3 target durations behind the edge (end of the newest
 * segment) of the first media playlist it loads, and plays from there once its first segment is in. Its
 * delay is therefore: D + the age of that edge when its first frame showed (the playlist version's
 * publication lag, its age when loaded - uniform over one segment - and the startup time) + constants, so
 * two single runs differ by up to a segment for reasons unrelated to D. The bench measures those start terms
 * per run without the picture clock: it polls the served 360p playlist every 25 ms over HTTP (when each
 * version appeared, and its edge's capture time from PROGRAM-DATE-TIME, which the testbed sets to the truth),
 * watches in process when the testbed published each version (so served - published = the delay the fault
 * really added, served_delay), and takes the first frame's time from the report. Then
 *   HLS:  g2g_adj = g2g_p50_ms - (first frame - edge of the version started from) + served_delay,
 * which a correct probe keeps at constant + D (a probe blind to D would show constant + 0). dash.js starts
 * from the clock (now - availabilityStartTime - presentation delay) when the MPD is in, so
 *   DASH: g2g_adj = g2g_p50_ms - (first frame - MPD loaded).
 * Runs start right after a playlist update to keep the HLS phase range small. The raw change of the median
 * g2g_p50_ms is printed next to the adjusted one. Stalls are not adjusted for: they add real delay (and, on
 * the testbed's DASH stream, noise).
 *
 * Also per run: g2g against the same delay read from the media timeline (PDT / dash.js latency), and the
 * startup breakdown's consistency with startup_ms (browser-lib startupPartsError).
 *
 * Last line: g2g_error_p50_ms=<median over stream x non-zero delay of |adjusted change - injected|>
 *            startup_parts_error_ms=<largest inconsistency over all runs>
 */
import { BrowserProber } from '../probes/browser/index.js';
import type { ProbeJob } from '../probes/types.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { ProbeResult } from '../shared/schemas.js';
import { type StreamInfo, startTestbed, type Testbed } from '../testbed/index.js';
import { arg, dashJsPath, fmt, median, numList, sleep, startupPartsError } from './browser-lib.js';
import { printTable } from './lib.js';

const POLL_MS = 25;

interface Change {
  /** Estimated wall time the served version first appeared (midpoint between the two polls). */
  t: number;
  lastSeq: number;
  /** Capture time of the end of its newest segment. */
  edge?: number;
}

/**
 * Last media sequence number listed in an HLS media playlist, and its edge: the capture time of the end of
 * its newest segment (PROGRAM-DATE-TIME + EXTINF; the testbed's PDT is the capture time of the first frame).
 */
function parseEdge(text: string): { lastSeq: number; edge?: number } | undefined {
  const m = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
  const durs = [...text.matchAll(/^#EXTINF:([\d.]+)/gm)].map((x) => Number(x[1]));
  if (!m || durs.length === 0) return undefined;
  const pdts = [...text.matchAll(/^#EXT-X-PROGRAM-DATE-TIME:(\S+)/gm)].map((x) => Date.parse(x[1]!));
  const lastPdt = pdts.length === durs.length ? pdts[pdts.length - 1] : undefined;
  return {
    lastSeq: Number(m[1]) + durs.length - 1,
    edge:
      lastPdt !== undefined && Number.isFinite(lastPdt) ? lastPdt + durs[durs.length - 1]! * 1000 : undefined,
  };
}

/**
 * Polls a media playlist as the origin serves it and records when each version appeared; also records, in
 * process, when the testbed published each version (before any fault), so served - published is the delay a
 * fault really added.
 */
class ServedPlaylist {
  readonly changes: Change[] = [];
  /** Last media sequence number -> wall time the testbed published that version. */
  readonly published = new Map<number, number>();
  private current?: number;
  private stopped = false;
  private waiters: Array<() => void> = [];
  private done?: Promise<unknown>;

  constructor(
    private readonly url: string,
    private readonly tb: Testbed,
  ) {}

  start(): void {
    this.done = Promise.all([this.loop(), this.publishedLoop()]);
  }

  private async publishedLoop(): Promise<void> {
    let known: number | undefined;
    while (!this.stopped) {
      try {
        const text = await this.tb.waitForPlaylist(
          this.url,
          (t) => known === undefined || (parseEdge(t)?.lastSeq ?? -1) > known,
          3000,
        );
        const now = Date.now();
        const seq = parseEdge(text)?.lastSeq;
        if (seq === undefined) continue;
        // The version current at start was published earlier than now: not recorded.
        if (known !== undefined && !this.published.has(seq)) this.published.set(seq, now);
        known = seq;
      } catch {}
    }
  }

  private async loop(): Promise<void> {
    let prevStart = Date.now();
    while (!this.stopped) {
      const start = Date.now();
      try {
        const res = await fetch(this.url);
        const p = res.ok ? parseEdge(await res.text()) : undefined;
        const seq = p?.lastSeq;
        if (p && seq !== undefined && seq !== this.current) {
          if (this.current !== undefined)
            this.changes.push({ t: (prevStart + start) / 2, lastSeq: seq, edge: p.edge });
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
  /** HLS: first frame - edge of the first media playlist the player loaded. */
  sinceEdge?: number;
  /** HLS: when that playlist version appeared over HTTP - when the testbed published it. */
  servedDelay?: number;
  /**
   * g2g less the terms set by where this run started: HLS, g2g - sinceEdge + servedDelay; DASH, g2g - (first
   * frame - MPD loaded). See the header.
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
    const published = v && served.published.get(v.lastSeq);
    if (v && published !== undefined) rec.servedDelay = v.t - published;
    if (v?.edge !== undefined && st.first_frame_ms !== undefined)
      rec.sinceEdge = wall + st.first_frame_ms - v.edge;
    if (rec.g2g !== undefined && rec.sinceEdge !== undefined && rec.servedDelay !== undefined)
      rec.adj = rec.g2g - rec.sinceEdge + rec.servedDelay;
    // The poll times are +-POLL_MS/2: a change that close to the request window leaves the version unsure.
    rec.ambiguous = !v || served.changedWithin(requested - POLL_MS, loaded + POLL_MS);
  }
  return rec;
}

/** One stream under test: its job, its served-playlist poller (HLS) and its runs. */
class StreamRuns {
  readonly records: RunRecord[] = [];
  private readonly served?: ServedPlaylist;
  private readonly job: ProbeJob;

  constructor(
    private readonly tb: Testbed,
    private readonly prober: BrowserProber,
    readonly s: StreamInfo,
    durationS: number,
    private readonly log: Logger,
  ) {
    if (s.protocol === 'hls') {
      const r360 = s.renditions.find((r) => r.name === '360p');
      if (!r360) throw new Error(`${s.id} has no 360p rendition`);
      this.served = new ServedPlaylist(r360.url, tb);
      this.served.start();
    }
    this.job = {
      target: { id: s.id, url: s.url, protocol: s.protocol },
      mode: 'check',
      durationS,
      expectations: {},
      // Pinned so the first media playlist is the one polled (hls.js only; dash.js has no pin).
      ...(s.protocol === 'hls' ? { rendition: { pinHeight: 360 } } : {}),
    };
  }

  /** Not counted: the first session of a fresh Chromium starts slower. */
  async warmUp(): Promise<void> {
    await this.served?.nextAdvance();
    await this.prober.run(
      { ...this.job, durationS: 4 },
      { signal: new AbortController().signal, logger: this.log },
    );
  }

  async run(delay: number, round: number): Promise<void> {
    const { s, tb } = this;
    const fault =
      delay > 0 ? tb.faults.inject({ stream: s.id, type: 'publish-delay', ms: delay }) : undefined;
    try {
      // Start right after a playlist update (HLS) so the start phase stays small; dash.js starts from the
      // clock, so DASH only lets the MPD with the moved availabilityStartTime be served first.
      if (this.served) await this.served.nextAdvance();
      else await sleep(300);
      const res = await this.prober.run(this.job, { signal: new AbortController().signal, logger: this.log });
      const rec = record(s, delay, round, res, this.served);
      this.records.push(rec);
      process.stderr.write(
        `${s.id} delay=${delay} round=${round}: ${rec.outcome} g2g=${fmt(rec.g2g)} phase=${fmt(rec.phase)} since_edge=${fmt(rec.sinceEdge)} served_delay=${fmt(rec.servedDelay)} adj=${fmt(rec.adj)}${rec.ambiguous && this.served ? ' (ambiguous)' : ''} stalls=${rec.stalls} startup=${fmt(rec.startupMs)}\n`,
      );
    } finally {
      if (fault) tb.faults.remove(fault.id);
    }
  }

  async stop(): Promise<void> {
    await this.served?.stop();
  }
}

/** Round r runs every delay once, rotated so each delay takes every position equally often. */
const rotated = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length]!);

async function main(): Promise<void> {
  const t0 = Date.now();
  const runs = Number(arg('runs', '7'));
  const delays = numList('delays', '0,1000,3000');
  const durationS = Number(arg('duration', '5'));
  const concurrent = process.argv.includes('--concurrent');
  const wanted = arg('streams', 'hls-ts,hls-fmp4,dash').split(',');
  if (!delays.includes(0)) delays.unshift(0);
  const log = createLogger('bench-accuracy', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn', 2);

  const tb = await startTestbed({ port: 0, ladder: 'full', segmentS: 2, windowSize: 6, logger: log });
  const prober = new BrowserProber({
    logger: log,
    maxSessions: concurrent ? wanted.length : 1,
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
      `accuracy: testbed ${tb.url} full ladder, ${tb.segmentS} s segments; streams ${wanted.join(', ')} ` +
        `${concurrent ? 'side by side' : 'one session at a time'}; delays ${delays.join(', ')} ms (interleaved); ` +
        `${runs} rounds of ${durationS} s checks`,
    );
    const ctx = streams.map((s) => new StreamRuns(tb, prober, s, durationS, log));
    try {
      if (concurrent) {
        // One session per stream at a time, the streams side by side.
        await Promise.all(
          ctx.map(async (c) => {
            await c.warmUp();
            for (let r = 0; r < runs; r++) for (const d of rotated(delays, r)) await c.run(d, r);
          }),
        );
      } else {
        // One session at a time: startups do not compete for the CPU.
        for (const c of ctx) await c.warmUp();
        for (let r = 0; r < runs; r++)
          for (const d of rotated(delays, r)) for (const c of rotated(ctx, r)) await c.run(d, r);
      }
    } finally {
      for (const c of ctx) await c.stop();
    }
    records = ctx.flatMap((c) => c.records);
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
        served_delay: fmt(median(ok.filter((r) => r.servedDelay !== undefined).map((r) => r.servedDelay!))),
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
      'served_delay: when that playlist version appeared over HTTP - when the testbed published it (HLS);',
      "g2g_adj: HLS g2g_p50_ms - (first frame - capture time of that playlist's edge) + served_delay;",
      '  DASH g2g_p50_ms - (first frame - MPD loaded); d_*: change of the median against injected 0;',
      'error = |d_g2g_adj - injected|;',
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
