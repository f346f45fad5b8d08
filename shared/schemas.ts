import { z } from 'zod';
import { IsoTime, SubjectToken } from './ids.js';
import { FindingCode, Metrics } from './metrics.js';
import { TargetAuth } from './target-auth.js';

export const Protocol = z.enum(['hls', 'dash']);
export type Protocol = z.infer<typeof Protocol>;

export const ProbeKind = z.enum(['browser', 'stream']);
export type ProbeKind = z.infer<typeof ProbeKind>;

export const ProbeMode = z.enum(['check', 'watch']);
export type ProbeMode = z.infer<typeof ProbeMode>;

/** Where a probe stands: stream verdicts (ok/degraded/failed) vs our own failure (probe-error), which never pages. */
export const Outcome = z.enum(['ok', 'degraded', 'failed', 'probe-error']);
export type Outcome = z.infer<typeof Outcome>;

export const LatencyMethod = z.enum(['stamp', 'pdt', 'dash']);
export type LatencyMethod = z.infer<typeof LatencyMethod>;

export const G2gMethod = z.enum(['stamp', 'none']);
export type G2gMethod = z.infer<typeof G2gMethod>;

/** How av_offset_ms was measured: the sync marker in the decoded output, or the buffered timelines. */
export const AvMethod = z.enum(['marker', 'buffer']);
export type AvMethod = z.infer<typeof AvMethod>;

const HttpUrl = z.url({ protocol: /^https?$/ });

export const Expectations = z
  .object({
    startup_ms: z.number().positive(),
    g2g_ms: z.number().positive(),
    rebuffer_ratio: z.number().min(0).max(1),
    /** Readiness verdict only: PDT / DASH latency p50 (streams without an in-frame clock). */
    latency_ms: z.number().positive(),
    /** Readiness verdict only: failed requests (HTTP + network errors) per segment requested. */
    error_rate: z.number().min(0).max(1),
  })
  .partial();

/**
 * Browser probe: pin one rendition (by picture height; ABR off) or cap ABR at a height, for HLS and DASH.
 * A pin matching no rendition makes the report a probe-error naming the heights the stream has. Without
 * either, the player adapts over the whole ladder as a viewer's would.
 */
export const RenditionChoice = z
  .object({
    /** Of several renditions with this height, the highest bitrate. */
    pinHeight: z.number().int().positive().max(10_000),
    /** DASH caps by bitrate: the highest bandwidth among the renditions this high or lower. */
    maxHeight: z.number().int().positive().max(10_000),
  })
  .partial();
export type RenditionChoice = z.infer<typeof RenditionChoice>;

/**
 * Target labels become alert labels (and Prometheus labels): the same name rule as alert labels, so no label
 * can break alert persistence or GET /v1/alerts.
 */
export const TargetLabelName = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]{0,62}$/,
    'label names: [A-Za-z_][A-Za-z0-9_]* (as alert labels), e.g. cost_center',
  );

export const Target = z.object({
  id: SubjectToken,
  name: z.string().max(200).optional(),
  url: HttpUrl,
  protocol: Protocol,
  labels: z.record(TargetLabelName, z.string().max(1000)).default({}),
  expectations: Expectations.default({}),
  /** Browser jobs of this target play this rendition choice (sweeps, schedules, watches). */
  rendition: RenditionChoice.optional(),
  /** Protected target: headers, cookies, URL tokens by secret name (shared/target-auth.ts); no secret values. */
  auth: TargetAuth.optional(),
});
export type Target = z.infer<typeof Target>;

/** What a job carries about its target: enough to probe it without a lookup. */
export const TargetRef = Target.pick({ id: true, url: true, protocol: true });
export type TargetRef = z.infer<typeof TargetRef>;

export const Job = z.object({
  id: z.string().min(1).max(128),
  sweepId: z.string().max(128).optional(),
  target: TargetRef,
  region: SubjectToken,
  probe: ProbeKind,
  mode: ProbeMode.default('check'),
  durationS: z.number().positive().max(3600),
  createdAt: IsoTime,
  /** After this the job is worthless (a sweep result nobody waits for): agents drop it as expired. */
  deadline: IsoTime.optional(),
  expectations: Expectations.default({}),
  /** watch mode: an interval report every intervalS seconds (and early on news), then the summary (seq 0). */
  intervalS: z.number().min(1).max(3600).optional(),
  /** Set on the jobs of a continuous watch (POST /v1/watches), so a stop reaches the agents running it. */
  watchId: SubjectToken.optional(),
  /** Browser probe: pin or cap the rendition (from the target); absent = ABR over the whole ladder. */
  rendition: RenditionChoice.optional(),
  /** The target's credentials by secret name; the agent resolves them (never a secret value in a job). */
  auth: TargetAuth.optional(),
});
export type Job = z.infer<typeof Job>;

export const StartupBreakdown = z
  .object({
    manifest_ms: z.number().nonnegative(),
    media_playlist_ms: z.number().nonnegative(),
    first_segment_ttfb_ms: z.number().nonnegative(),
    first_segment_ms: z.number().nonnegative(),
    first_buffered_ms: z.number().nonnegative(),
    first_frame_ms: z.number().nonnegative(),
  })
  .partial();
export type StartupBreakdown = z.infer<typeof StartupBreakdown>;

export const SegmentTiming = z.object({
  /** Wall-clock time the request started (epoch ms). */
  at: z.number(),
  rendition: z.string().max(100).optional(),
  sn: z.number().int().optional(),
  url: z.string().max(2048),
  bytes: z.number().int().nonnegative(),
  ttfb_ms: z.number().nonnegative(),
  download_ms: z.number().nonnegative(),
  /** Stream probe: DNS + TCP connect, ms (0 on a reused keep-alive connection). Older reports lack the phases. */
  connect_ms: z.number().nonnegative().optional(),
  /** Stream probe: TLS handshake, ms (0 for http: or a reused connection). */
  tls_ms: z.number().nonnegative().optional(),
  /** Stream probe: first byte -> last byte, ms. */
  transfer_ms: z.number().nonnegative().optional(),
  /** Stream probe: the request went on a kept-alive connection (no connect, no TLS). */
  reused: z.boolean().optional(),
});
export type SegmentTiming = z.infer<typeof SegmentTiming>;

const PhaseStats = z.object({ p50: z.number().nonnegative(), p95: z.number().nonnegative() });

/**
 * Per-report summary of the segment download phases (stream probe): TTFB (request start -> first byte, so it
 * includes connect and TLS on a new connection) and transfer over every download; connect and TLS over the
 * downloads that opened a connection only (a reused one has none, and zeros would hide the handshake cost).
 */
export const SegmentPhases = z.object({
  samples: z.number().int().nonnegative(),
  new_connection_count: z.number().int().nonnegative(),
  connect_ms: PhaseStats.optional(),
  tls_ms: PhaseStats.optional(),
  ttfb_ms: PhaseStats.optional(),
  transfer_ms: PhaseStats.optional(),
});
export type SegmentPhases = z.infer<typeof SegmentPhases>;

export const ErrorCategory = z.enum(['http', 'network', 'player', 'conformance']);
export type ErrorCategory = z.infer<typeof ErrorCategory>;

export const ProbeErrorEntry = z.object({
  at: z.number(),
  category: ErrorCategory,
  type: z.string().max(200),
  details: z.string().max(1000),
  fatal: z.boolean().default(false),
  status: z.number().int().optional(),
  /** Query strings are redacted before a URL leaves the probe (signed URLs carry credentials). */
  url: z.string().max(2048).optional(),
});
export type ProbeErrorEntry = z.infer<typeof ProbeErrorEntry>;

/**
 * Browser probe: a non-fatal player event that a healthy live stream also produces (hls.js seeking over a
 * small buffer hole at start, nudging past a micro-stall): reported for the record, never as a player error.
 */
export const PlayerNotice = z.object({
  /** The player's detail name, e.g. bufferSeekOverHole. */
  type: z.string().max(200),
  /** Epoch ms of the first one in the period. */
  at: z.number(),
  count: z.number().int().positive(),
  details: z.string().max(1000).optional(),
});
export type PlayerNotice = z.infer<typeof PlayerNotice>;

export const Finding = z.object({
  code: FindingCode,
  severity: z.enum(['info', 'warning', 'critical']),
  variant: z.string().max(2048),
  at: z.number(),
  count: z.number().int().positive().default(1),
  evidence: z.string().max(4000),
});
export type Finding = z.infer<typeof Finding>;

/** Bounds keep one pathological stream from producing a multi-megabyte report. */
export const MAX_SEGMENTS_IN_REPORT = 300;
export const MAX_ERRORS_IN_REPORT = 100;
export const MAX_RENDITIONS_IN_REPORT = 20;

/**
 * Browser probe: playing time (first frame presented, playhead advancing: not stalled, not before the first
 * frame, no player gone) spent while this rendition was the one displayed. Over a report the entries sum to its
 * playing time.
 */
export const RenditionTime = z.object({
  /** Same name as SegmentTiming.rendition ("360p", "360p@800k" for two of one height, "level 2" without one). */
  rendition: z.string().max(100),
  height: z.number().int().positive().optional(),
  /** Advertised bits/s (HLS BANDWIDTH, DASH @bandwidth). */
  bitrate: z.number().int().nonnegative().optional(),
  time_ms: z.number().nonnegative(),
});
export type RenditionTime = z.infer<typeof RenditionTime>;

/**
 * Marks on a report that change how much its numbers are trusted (all optional; older reports lack them):
 * - clock-suspect: the agent's clock estimate is less certain than `agent.clockUncertaintyMaxMs`, so its
 *   latency figures (g2g, PDT / DASH latency, availability delay) are kept out of latency alerts;
 * - inconclusive: the probe itself ran late (event-loop lag, late polls, CPU starvation, an unresponsive
 *   renderer) when it found what it found; the report is a probe-error with the cause in `selfCheck`.
 */
export const ReportFlag = z.enum(['clock-suspect', 'inconclusive']);
export type ReportFlag = z.infer<typeof ReportFlag>;

/** How the probe itself fared over the report period (its own lateness, not the stream's). */
export const SelfCheck = z.object({
  /** Event-loop delay of the probe's process (perf_hooks monitorEventLoopDelay). */
  loop_lag_p99_ms: z.number().nonnegative().optional(),
  loop_lag_max_ms: z.number().nonnegative().optional(),
  /** Share of the period the event loop was blocked in stretches of 200 ms or more. */
  loop_blocked_ratio: z.number().min(0).max(1).optional(),
  /** Time the process's main thread waited for a CPU (Linux run-queue wait) per wall-clock ms. */
  cpu_wait_ratio: z.number().nonnegative().optional(),
  /** Stream probe: reload start vs its planned time, as a share of the reload interval (p95; 0.5 = half). */
  poll_drift_p95_ratio: z.number().optional(),
  /** Browser probe: the slowest round trip of a harness drain (page.evaluate): renderer responsiveness. */
  drain_rtt_max_ms: z.number().nonnegative().optional(),
  /** True when the probe's own lateness could explain a lateness finding. */
  late: z.boolean(),
  cause: z.string().max(500).optional(),
});
export type SelfCheck = z.infer<typeof SelfCheck>;

/** Per-sketch cap on its serialized form (base64 of the DDSketch protobuf); a larger sketch is left out. */
export const MAX_SKETCH_CHARS = 4096;
const SketchB64 = z
  .string()
  .max(MAX_SKETCH_CHARS)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

/**
 * Mergeable DDSketches (1 % relative accuracy, controller/aggregate/sketch.ts) of a report's raw samples, so
 * the controller's p95 across reports is a p95 of samples, not of per-report percentiles. Figures that depend
 * on the clock hold corrected samples; values <= 0 are counted in the sketch's zero bucket.
 */
export const SampleSketches = z
  .object({
    segment_ttfb_ms: SketchB64,
    segment_download_ms: SketchB64,
    segment_throughput_kbps: SketchB64,
    segment_availability_delay_ms: SketchB64,
    g2g_ms: SketchB64,
    pdt_latency_ms: SketchB64,
    dash_latency_ms: SketchB64,
  })
  .partial();
export type SampleSketches = z.infer<typeof SampleSketches>;
export type SampleName = keyof SampleSketches;

export const Report = z.object({
  id: z.string().min(1).max(200),
  jobId: z.string().min(1).max(128),
  /**
   * 0 for a check's one report and a watch's summary; a watch's interval report: when it ended, in ms since
   * the job's createdAt (increasing, and unique across agents when a job is redelivered).
   */
  seq: z.number().int().nonnegative(),
  sweepId: z.string().max(128).optional(),
  target: TargetRef,
  region: SubjectToken,
  agentId: SubjectToken,
  probe: ProbeKind,
  mode: ProbeMode,
  startedAt: IsoTime,
  endedAt: IsoTime,
  outcome: Outcome,
  reasons: z.array(z.string().max(500)).max(50),
  latency_method: LatencyMethod.optional(),
  /**
   * Browser probe, once frames were read: 'stamp' when an in-frame clock strip was decoded, 'none' when the
   * picture carries none (then there is no g2g figure, never a made-up one).
   */
  g2g_method: G2gMethod.optional(),
  /** Id of the clock painter whose strip was read (an injector's --id; absent for a strip without an id row). */
  g2g_injector_id: z.number().int().min(1).max(65535).optional(),
  /** Where the strip was found, e.g. "bottom-right@0.5" (shared/clock.ts placementName). */
  g2g_strip: z.string().max(40).optional(),
  /** Browser probe: how av_offset_ms was measured (present with it). */
  av_method: AvMethod.optional(),
  metrics: Metrics,
  startup: StartupBreakdown.optional(),
  /** Stream probe: p50/p95 of each download phase over every segment of the period (not only those listed). */
  segmentPhases: SegmentPhases.optional(),
  errors: z.array(ProbeErrorEntry).max(MAX_ERRORS_IN_REPORT).default([]),
  /** Browser probe: player notices (non-fatal, expected of healthy streams), kept out of `errors`. */
  notices: z.array(PlayerNotice).max(50).optional(),
  /** Browser probe, once playing: time at each rendition in the report period (optional: older reports lack it). */
  renditions: z.array(RenditionTime).max(MAX_RENDITIONS_IN_REPORT).optional(),
  findings: z.array(Finding).max(200).default([]),
  /** Trust marks (clock-suspect, inconclusive); absent = none. */
  flags: z.array(ReportFlag).max(8).optional(),
  /** The probe's watch on itself over the period (optional: older agents do not send it). */
  selfCheck: SelfCheck.optional(),
  /**
   * Mergeable DDSketches of the raw samples behind the percentile metrics (e.g. every segment's download
   * time, every decoded frame's g2g), by sample name, base64 protobuf; the controller merges them so a p95
   * across reports is a p95 of samples. Bounded by MAX_SKETCH_BYTES in total.
   */
  sketches: SampleSketches.optional(),
  version: z.string().max(50),
  /**
   * Last on purpose: a parsed report is serialized in this order (agent/publisher.ts), and ingest takes
   * the core as everything before `,"segments":[` without scanning the rows (shared/report-core.ts).
   */
  segments: z.array(SegmentTiming).max(MAX_SEGMENTS_IN_REPORT).default([]),
});
export type Report = z.infer<typeof Report>;

/** What a probe returns: a report minus the fleet's envelope (the agent adds job, region and agent). */
export const ProbeResult = Report.omit({
  id: true,
  jobId: true,
  seq: true,
  sweepId: true,
  region: true,
  agentId: true,
  version: true,
});
export type ProbeResult = z.infer<typeof ProbeResult>;

export const Heartbeat = z.object({
  agentId: SubjectToken,
  region: SubjectToken,
  labels: z.record(z.string(), z.string()).default({}),
  version: z.string().max(50),
  startedAt: IsoTime,
  at: IsoTime,
  capacity: z.record(ProbeKind, z.number().int().nonnegative()),
  running: z.record(ProbeKind, z.number().int().nonnegative()),
  jobs: z.array(z.string()).max(1000),
  clockOffsetMs: z.number().optional(),
  browser: z
    .object({
      healthy: z.boolean(),
      pid: z.number().int().optional(),
      sessions: z.number().int().nonnegative(),
    })
    .optional(),
  /** Set when the agent is shutting down: it no longer pulls. */
  draining: z.boolean().default(false),
  /** Report delivery: counters since start, and what waits in the on-disk spool (NATS unreachable). */
  publisher: z
    .object({
      published: z.number().int().nonnegative(),
      duplicates: z.number().int().nonnegative(),
      retries: z.number().int().nonnegative(),
      spooled: z.number().int().nonnegative(),
      replayed: z.number().int().nonnegative(),
      /** Reports this agent could neither store nor spool (their jobs were handed back). */
      dropped: z.number().int().nonnegative(),
      spoolDepth: z.number().int().nonnegative(),
      spoolBytes: z.number().int().nonnegative(),
    })
    .optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;

/**
 * Request/reply on `<prefix>.control.<agentId>`: drain (stop taking jobs, finish running ones), resume,
 * stop (drain with the agent's grace period, hand back what is left, exit), status.
 */
export const ControlRequest = z.object({
  action: z.enum(['drain', 'resume', 'stop', 'status']),
});
export type ControlRequest = z.infer<typeof ControlRequest>;

export const ControlReply = z.object({
  ok: z.boolean(),
  agentId: SubjectToken,
  action: z.string().max(50),
  draining: z.boolean(),
  /** Job ids running when the reply was sent. */
  jobs: z.array(z.string()).max(1000),
  message: z.string().max(500).optional(),
});
export type ControlReply = z.infer<typeof ControlReply>;

/**
 * Heartbeat of a clock-strip injector (`liveprobe inject`) on `<prefix>.injectors.<id>`: where the stamp
 * that probes read as glass-to-glass comes from, and whether it is being painted right now.
 */
export const InjectorHeartbeat = z.object({
  id: z.number().int().min(1).max(65535),
  name: z.string().min(1).max(100),
  site: z.string().max(100).optional(),
  version: z.string().max(50),
  startedAt: IsoTime,
  at: IsoTime,
  uptimeS: z.number().nonnegative(),
  /** paint: frames get the strip; passthrough: the feed flows unpainted (painting failed); down: no output. */
  mode: z.enum(['starting', 'paint', 'passthrough', 'down']),
  placement: z.string().max(40),
  /** Inputs and outputs with query values and userinfo redacted (SRT passphrases travel there). */
  input: z.string().max(2048),
  output: z.string().max(2048),
  framesPainted: z.number().int().nonnegative(),
  framesPassed: z.number().int().nonnegative(),
  /** Stamp to encoder, ms (median of the last heartbeat interval); absent while not painting. */
  addedDelayMs: z.number().nonnegative().optional(),
  /** Host clock minus the controller's clock; the stamp is corrected by appliedOffsetMs. */
  clockOffsetMs: z.number().optional(),
  /** The correction frames get now; re-measured offsets are applied while painting (within ±127 ms a step). */
  appliedOffsetMs: z.number(),
  /** When clockOffsetMs was last measured (every offsetRefreshS, default 60 s). */
  offsetMeasuredAt: IsoTime.optional(),
  clockSource: z.enum(['controller', 'manual', 'none']),
  restarts: z.number().int().nonnegative(),
  decodeErrors: z.number().int().nonnegative(),
  /** Painted frames whose decoding reported errors (painted over a concealed picture: see the guide). */
  framesConcealed: z.number().int().nonnegative().optional(),
});
export type InjectorHeartbeat = z.infer<typeof InjectorHeartbeat>;
