import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../shared/log.js';
import { buildFfmpegArgs, Encoder } from './encoder.js';
import { faultApi } from './faults/api.js';
import { FaultEngine, type TruthLogEntry } from './faults/engine.js';
import { MAX_PUBLISH_DELAY_MS } from './faults/publish-delay.js';
import type { FaultRecord } from './faults/types.js';
import { lastSequence, parseMediaPlaylist } from './hls.js';
import { buildLayout, type Ladder, manifestPaths, outputDirs, type StreamLayout } from './layout.js';
import { Origin } from './origin.js';
import { PlaylistStore } from './playlists.js';
import { TruthfulPublisher } from './publish.js';
import {
  loadScenarioFile,
  parseScenario,
  runScenario,
  type Scenario,
  type ScenarioInput,
  type ScenarioRun,
  validateScenarioFaults,
} from './scenario.js';
import { AudioPainter, FramePainter } from './source.js';
import { SourceControl } from './source-control.js';
import { SubtitleWriter } from './subtitles.js';
import { TimelineTruth } from './truth.js';

export { decodeClockFromLuma } from './clock-decode.js';
export { FaultValidationError, type TruthLogEntry } from './faults/engine.js';
export { FAULT_TYPES, type FaultType } from './faults/registry.js';
export type { FaultRecord } from './faults/types.js';
export type { Ladder, ResourceKind, StreamId } from './layout.js';
export { loadScenarioFile, parseScenario, type Scenario, type ScenarioInput } from './scenario.js';
export { segmentFirstFrameClock } from './segment-clock.js';

export interface TestbedOptions {
  /** Listen port; 0 (default) picks a free one. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Segment duration in seconds, 1-6; default 2. GOP = segment duration. */
  segmentS?: number;
  /** Segments in the live window, 3-30; default 6. */
  windowSize?: number;
  /** 'full' (default): 3 video renditions + audio as HLS TS, HLS fMP4 and DASH. 'single': one 360p HLS TS rendition (video+audio muxed), for light tests. */
  ladder?: Ladder;
  logger?: Logger;
  /** Output directory for ffmpeg; default a fresh temp dir removed on stop. */
  dir?: string;
  /** Frames per second of the painted source; default 30. */
  fps?: number;
  /** How long startTestbed waits for the first playlist to list 2 segments; default 30 s. */
  readyTimeoutMs?: number;
  ffmpegPath?: string;
  /** A fault timeline: a YAML file path, or a scenario object (see testbed/README.md). */
  scenario?: string | ScenarioInput;
  /** Called at each source disturbance (see Testbed.sourceLog), as it happens. */
  onSourceEvent?(e: SourceEvent): void;
}

/**
 * Times the testbed itself could not keep the stream live, so every viewer stalls at once for the testbed's
 * sake, not a probe's: the frame pacer fell > 1 s behind and re-anchored (its event loop starved), or ffmpeg
 * was restarted (the first start is not an event).
 */
export interface SourceEvent {
  kind: 'pacer-reanchor' | 'ffmpeg-restart';
  /** Wall-clock epoch ms. */
  atMs: number;
  /** pacer-reanchor: how far behind the pacer was, ms. */
  lagMs?: number;
}

export interface RenditionInfo {
  name: string;
  /** Absolute URL: the HLS media playlist, or for DASH the MPD (see representationId). */
  url: string;
  bandwidth: number;
  /** subtitles: the WebVTT rendition (full ladder; bandwidth 0). */
  type: 'video' | 'audio' | 'subtitles';
  width?: number;
  height?: number;
  /** DASH Representation@id. */
  representationId?: string;
}

export interface StreamInfo {
  id: string;
  protocol: 'hls' | 'dash';
  /** 'ts' (MPEG-TS segments) or 'fmp4' (CMAF / fragmented MP4). */
  container: 'ts' | 'fmp4';
  /** Absolute URL of the master playlist or MPD. */
  url: string;
  renditions: RenditionInfo[];
  segmentS: number;
  windowSize: number;
  description: string;
}

export interface Testbed {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Output directory ffmpeg writes into. */
  dir: string;
  streams: StreamInfo[];
  segmentS: number;
  windowSize: number;
  /** PID of the running ffmpeg, undefined while it is down. */
  ffmpegPid(): number | undefined;
  /** How many times ffmpeg has been restarted. */
  restarts(): number;
  /** Source disturbances (pacer re-anchors, ffmpeg restarts) since `sinceMs` (epoch ms), oldest first; bounded. */
  sourceLog(sinceMs?: number): SourceEvent[];
  /** The fault engine (same as the HTTP API under /faults). */
  faults: {
    /** Validates and injects ({stream, rendition?, type, ...params, durationS?}); throws FaultValidationError. */
    inject(fault: Record<string, unknown>, source?: string): FaultRecord;
    remove(id: string): FaultRecord | undefined;
    clear(): number;
    list(): FaultRecord[];
    /** Truth log: every injection and removal with wall-clock times. */
    log(sinceMs?: number): TruthLogEntry[];
  };
  /** Resolves when a playlist (root-relative path or absolute URL) publishes a version matching pred. */
  waitForPlaylist(pathOrUrl: string, pred: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

function describe(s: StreamLayout): string {
  const kind =
    s.protocol === 'dash'
      ? 'DASH dynamic MPD (SegmentTemplate, fMP4)'
      : `HLS ${s.container === 'ts' ? 'MPEG-TS' : 'fMP4'}`;
  return `${kind}, ${s.renditions.filter((r) => r.type === 'video').length} video rendition(s)`;
}

export function streamInfos(
  layout: StreamLayout[],
  base: string,
  segmentS: number,
  windowSize: number,
): StreamInfo[] {
  return layout.map((s) => ({
    id: s.id,
    protocol: s.protocol,
    container: s.container,
    url: `${base}/${s.entry}`,
    segmentS,
    windowSize,
    description: describe(s),
    renditions: s.renditions.map((r) => ({
      name: r.name,
      url: `${base}/${r.playlist ?? s.entry}`,
      bandwidth: r.bandwidth,
      type: r.type,
      ...(r.width ? { width: r.width, height: r.height } : {}),
      ...(r.representationId !== undefined ? { representationId: r.representationId } : {}),
    })),
  }));
}

/**
 * Starts the live source (Node-painted frames carrying the capture clock -> one supervised ffmpeg) and the
 * origin. Resolves once the first stream's first media playlist lists at least 2 segments.
 */
export async function startTestbed(opts: TestbedOptions = {}): Promise<Testbed> {
  const logger = opts.logger ?? createLogger('testbed');
  const scenario: Scenario | undefined =
    opts.scenario === undefined
      ? undefined
      : typeof opts.scenario === 'string'
        ? loadScenarioFile(opts.scenario)
        : parseScenario(opts.scenario);
  const segmentS = opts.segmentS ?? scenario?.testbed?.segmentS ?? 2;
  const windowSize = opts.windowSize ?? scenario?.testbed?.windowSize ?? 6;
  const ladder = opts.ladder ?? scenario?.testbed?.ladder ?? 'full';
  const fps = opts.fps ?? 30;
  const host = opts.host ?? '127.0.0.1';
  if (!Number.isInteger(segmentS) || segmentS < 1 || segmentS > 6)
    throw new Error('segmentS must be an integer 1-6');
  if (!Number.isInteger(windowSize) || windowSize < 3 || windowSize > 30)
    throw new Error('windowSize must be 3-30');
  if (ladder !== 'full' && ladder !== 'single') throw new Error("ladder must be 'full' or 'single'");

  const ownDir = !opts.dir;
  const dir = resolve(opts.dir ?? mkdtempSync(join(tmpdir(), 'liveprobe-testbed-')));
  const layout = buildLayout(ladder);
  for (const s of layout) rmSync(join(dir, s.id), { recursive: true, force: true });
  for (const d of outputDirs(layout)) mkdirSync(join(dir, d), { recursive: true });

  // Segments stay on disk this long after leaving the window, and playlist versions are kept as long, so a
  // publish-delay (up to MAX_PUBLISH_DELAY_MS) or a stale copy still finds its segments.
  const keepExtraSegments = Math.ceil(MAX_PUBLISH_DELAY_MS / 1000 / segmentS) + 2;
  const store = new PlaylistStore({
    root: dir,
    paths: manifestPaths(layout),
    historyMs: MAX_PUBLISH_DELAY_MS + (windowSize + 2) * segmentS * 1000,
  });

  const sourceEvents: SourceEvent[] = [];
  let runs = 0;
  const sourceEvent = (e: SourceEvent) => {
    sourceEvents.push(e);
    if (sourceEvents.length > 1000) sourceEvents.shift();
    try {
      opts.onSourceEvent?.(e);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'onSourceEvent listener failed');
    }
  };
  const gop = Math.round(fps * segmentS);
  const truth = new TimelineTruth(gop);
  const publisher = new TruthfulPublisher(truth);
  const source = new SourceControl();
  const engine = new FaultEngine({ layout, store, truth, publisher, segmentS, logger, source });
  if (scenario) validateScenarioFaults(scenario, engine);
  let scenarioRun: ScenarioRun | undefined;
  store.start();
  const subtitles = new SubtitleWriter({ root: dir, layout, store, truth, keepExtraSegments, logger });
  subtitles.start();
  const mediaPlaylists = layout.flatMap((s) => s.renditions.flatMap((r) => (r.playlist ? [r.playlist] : [])));

  let encoder: Encoder | undefined;
  let streams: StreamInfo[] = [];
  const origin = new Origin({
    root: dir,
    host,
    port: opts.port ?? 0,
    layout,
    store,
    logger,
    streams: () => streams,
    hooks: engine,
    api: faultApi(engine, () => scenarioRun?.status()),
    healthy: () => ({
      ok: !!encoder && !encoder.gaveUp,
      detail: {
        ffmpegPid: encoder?.pid ?? null,
        restarts: encoder?.restarts ?? 0,
        pacerReanchors: sourceEvents.filter((e) => e.kind === 'pacer-reanchor').length,
      },
    }),
  });
  let port: number;
  try {
    port = await origin.listen();
  } catch (err) {
    store.stop();
    await subtitles.stop();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const base = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  streams = streamInfos(layout, base, segmentS, windowSize);

  const painter = new FramePainter({ width: 640, height: 360 }, fps);
  painter.mode = () => engine.picture();
  encoder = new Encoder({
    args: buildFfmpegArgs({
      dir,
      ladder,
      fps,
      width: painter.width,
      height: painter.height,
      segmentS,
      windowSize,
      timeUrl: `${base}/time`,
      keepExtraSegments,
    }),
    fps,
    painter,
    audio: new AudioPainter(fps, () => source.audio()),
    logger,
    onRun: () => {
      if (runs++ > 0) sourceEvent({ kind: 'ffmpeg-restart', atMs: Date.now() });
      // A new ffmpeg run continues each playlist's numbering (append_list) after the last published segment.
      const run = truth.beginRun();
      for (const p of mediaPlaylists)
        void store.refresh(p).then(() => {
          const v = store.latest(p);
          truth.setFirstSeq(run, p, v ? lastSequence(parseMediaPlaylist(v.text)) + 1 : 0);
        });
    },
    onFrame: (n, stamp) => truth.frame(n, stamp),
    onReanchor: (lagMs) =>
      sourceEvent({ kind: 'pacer-reanchor', atMs: Date.now(), lagMs: Math.round(lagMs) }),
    ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}),
  });
  const enc = encoder;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    scenarioRun?.stop();
    engine.stop();
    await enc.stop();
    await subtitles.stop();
    store.stop();
    await origin.close();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    logger.info({ url: base }, 'testbed stopped');
  };

  const toPath = (p: string) =>
    p.startsWith('http') ? new URL(p).pathname.replace(/^\//, '') : p.replace(/^\//, '');
  const first = layout[0]!.renditions[0]!.playlist!;
  try {
    enc.start();
    const gaveUp = new Promise<never>((_, rej) => enc.once('gave-up', rej));
    await Promise.race([
      store.waitFor(
        first,
        (v) => parseMediaPlaylist(v.text).segments.length >= 2,
        opts.readyTimeoutMs ?? 30_000,
      ),
      gaveUp,
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  logger.info({ url: base, ladder, segmentS, windowSize, ffmpegPid: enc.pid }, 'testbed ready');
  if (scenario) scenarioRun = runScenario(scenario, engine, logger);

  return {
    url: base,
    port,
    dir,
    streams,
    segmentS,
    windowSize,
    ffmpegPid: () => enc.pid,
    restarts: () => enc.restarts,
    sourceLog: (since = 0) => sourceEvents.filter((e) => e.atMs >= since),
    faults: {
      inject: (f, source = 'api') => engine.inject(f, source),
      remove: (id) => engine.remove(id, 'api'),
      clear: () => engine.clear('api'),
      list: () => engine.list(),
      log: (since) => engine.truthLog(since),
    },
    waitForPlaylist: async (p, pred, timeoutMs = 20_000) =>
      (await store.waitFor(toPath(p), (v) => pred(v.text), timeoutMs)).text,
    stop,
  };
}
