import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import { parseMediaPlaylist, serializeMediaPlaylist } from '../hls.js';
import type { ResourceRef, StreamLayout } from '../layout.js';
import type { ManifestView, OriginHooks, ServePlan } from '../origin.js';
import type { ManifestVersion, PlaylistStore } from '../playlists.js';
import type { TruthfulPublisher } from '../publish.js';
import type { SourceControl } from '../source-control.js';
import type { TimelineTruth } from '../truth.js';
import { FAULT_TYPES, FAULTS, type FaultType, isFaultType } from './registry.js';
import type { ActiveFault, FaultEnv, FaultModule, FaultRecord, PictureMode, RequestCtx } from './types.js';

export interface FaultIssue {
  path: string;
  message: string;
}

export class FaultValidationError extends Error {
  constructor(readonly issues: FaultIssue[]) {
    super(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '));
  }
}

/** One line of the truth log: every injection and removal, with wall-clock times. */
export interface TruthLogEntry {
  seq: number;
  event: 'inject' | 'remove';
  /** ISO 8601 wall-clock time and the same as epoch ms. */
  at: string;
  atMs: number;
  id: string;
  type: string;
  stream: string;
  rendition?: string;
  params: Record<string, unknown>;
  durationS?: number;
  source: string;
  /** remove: api | expired | scenario | clear | stop */
  reason?: string;
  /** 'source': a picture fault, shown on every stream whatever `stream` names. */
  scope?: 'source';
}

const Base = z.looseObject({
  stream: z.string().min(1, 'stream is required'),
  rendition: z.string().min(1).optional(),
  type: z.string().min(1, 'type is required'),
  durationS: z
    .number()
    .positive()
    .max(7 * 86_400)
    .optional(),
  params: z.record(z.string(), z.unknown()).optional(),
});

function zodIssues(err: z.ZodError, prefix = ''): FaultIssue[] {
  return err.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.');
    const keys = (i as { keys?: string[] }).keys;
    const message =
      i.code === 'unrecognized_keys' && keys ? `unknown parameter(s): ${keys.join(', ')}` : i.message;
    return { path, message };
  });
}

interface Entry {
  fault: ActiveFault<never>;
  module: FaultModule<never>;
  release: () => void;
  timer?: NodeJS.Timeout;
}

export interface FaultEngineOptions {
  layout: StreamLayout[];
  store: PlaylistStore;
  truth: TimelineTruth;
  publisher: TruthfulPublisher;
  segmentS: number;
  logger: Logger;
  /** The live source's controls (content faults: audio-silence, av-drift). */
  source: SourceControl;
  maxLogEntries?: number;
}

export interface ValidFault {
  type: FaultType;
  stream: StreamLayout;
  rendition?: string;
  params: Record<string, unknown>;
  durationS?: number;
}

/**
 * Holds the active faults and answers the origin's questions (plan / manifest / segmentVisible) by asking
 * each matching fault's module. Faults match by stream, and by rendition when they name one.
 */
export class FaultEngine implements OriginHooks {
  private readonly active = new Map<string, Entry>();
  private readonly log: TruthLogEntry[] = [];
  private logSeq = 0;

  constructor(private readonly opts: FaultEngineOptions) {}

  /** Validates a fault request (the POST /faults body); throws FaultValidationError with every problem. */
  validate(input: unknown): ValidFault {
    const base = Base.safeParse(input);
    if (!base.success) throw new FaultValidationError(zodIssues(base.error));
    const { stream: streamId, rendition, type, durationS, params: nested, ...rest } = base.data;
    const issues: FaultIssue[] = [];
    if (!isFaultType(type)) {
      throw new FaultValidationError([
        { path: 'type', message: `unknown fault type "${type}"; one of: ${FAULT_TYPES.join(', ')}` },
      ]);
    }
    const module = FAULTS[type];
    const stream = this.opts.layout.find((s) => s.id === streamId);
    if (!stream) {
      throw new FaultValidationError([
        {
          path: 'stream',
          message: `unknown stream "${streamId}"; streams: ${this.opts.layout.map((s) => s.id).join(', ')}`,
        },
      ]);
    }
    if (!module.protocols.includes(stream.protocol))
      issues.push({
        path: 'type',
        message: `${type} applies to ${module.protocols.join('/')} streams; ${stream.id} is ${stream.protocol}`,
      });
    if (rendition !== undefined) {
      if (module.rendition === 'forbidden')
        issues.push({ path: 'rendition', message: `${type} applies to the whole stream; omit rendition` });
      else if (!stream.renditions.some((r) => r.name === rendition))
        issues.push({
          path: 'rendition',
          message: `unknown rendition "${rendition}" of ${stream.id}; renditions: ${stream.renditions.map((r) => r.name).join(', ')}`,
        });
    }
    if (!issues.length && module.check)
      for (const message of module.check({ stream, ...(rendition !== undefined ? { rendition } : {}) }))
        issues.push({ path: 'rendition', message });
    const parsed = (module.params as z.ZodType).safeParse({ ...nested, ...rest });
    if (!parsed.success) issues.push(...zodIssues(parsed.error));
    // The master playlist / MPD belongs to no rendition: such a fault would match nothing.
    else if (rendition !== undefined && (parsed.data as { on?: unknown }).on === 'master')
      issues.push({
        path: 'rendition',
        message: 'on: master hits the master playlist / MPD; omit rendition',
      });
    if (issues.length) throw new FaultValidationError(issues);
    return {
      type,
      stream,
      ...(rendition !== undefined ? { rendition } : {}),
      params: parsed.data as Record<string, unknown>,
      ...(durationS !== undefined ? { durationS } : {}),
    };
  }

  /** Validates and activates a fault; returns its record (with id). */
  inject(input: unknown, source = 'api'): FaultRecord {
    const v = this.validate(input);
    const module = FAULTS[v.type];
    const now = Date.now();
    const id = `f-${randomBytes(4).toString('hex')}`;
    const record: FaultRecord = {
      id,
      type: v.type,
      stream: v.stream.id,
      ...(v.rendition !== undefined ? { rendition: v.rendition } : {}),
      params: v.params,
      ...(v.durationS !== undefined
        ? { durationS: v.durationS, expiresAt: new Date(now + v.durationS * 1000).toISOString() }
        : {}),
      injectedAt: new Date(now).toISOString(),
      source,
      ...(module.scope ? { scope: module.scope } : {}),
    };
    let release = () => {};
    const removed = new Promise<void>((r) => {
      release = r;
    });
    const fault: ActiveFault<never> = {
      record,
      params: v.params as never,
      injectedAtMs: now,
      state: {},
      removed,
    };
    module.inject?.(fault, this.env(v.stream, v.rendition));
    const entry: Entry = { fault, module, release };
    if (v.durationS !== undefined)
      entry.timer = setTimeout(() => this.remove(id, 'expired'), v.durationS * 1000);
    this.active.set(id, entry);
    this.record('inject', record, now);
    this.opts.logger.info({ fault: record }, 'fault injected');
    return record;
  }

  remove(id: string, reason = 'api'): FaultRecord | undefined {
    const e = this.active.get(id);
    if (!e) return undefined;
    this.active.delete(id);
    if (e.timer) clearTimeout(e.timer);
    e.release();
    this.record('remove', e.fault.record, Date.now(), reason);
    this.opts.logger.info({ id, type: e.fault.record.type, reason }, 'fault removed');
    return e.fault.record;
  }

  clear(reason = 'clear'): number {
    const ids = [...this.active.keys()];
    for (const id of ids) this.remove(id, reason);
    return ids.length;
  }

  list(): FaultRecord[] {
    return [...this.active.values()].map((e) => e.fault.record);
  }

  get(id: string): FaultRecord | undefined {
    return this.active.get(id)?.fault.record;
  }

  truthLog(sinceMs = 0): TruthLogEntry[] {
    return this.log.filter((e) => e.atMs >= sinceMs);
  }

  stop(): void {
    this.clear('stop');
  }

  private record(event: 'inject' | 'remove', r: FaultRecord, atMs: number, reason?: string): void {
    this.log.push({
      seq: ++this.logSeq,
      event,
      at: new Date(atMs).toISOString(),
      atMs,
      id: r.id,
      type: r.type,
      stream: r.stream,
      ...(r.rendition !== undefined ? { rendition: r.rendition } : {}),
      params: r.params,
      ...(r.durationS !== undefined ? { durationS: r.durationS } : {}),
      source: r.source,
      ...(r.scope ? { scope: r.scope } : {}),
      ...(reason ? { reason } : {}),
    });
    const max = this.opts.maxLogEntries ?? 10_000;
    if (this.log.length > max) this.log.splice(0, this.log.length - max);
  }

  private env(stream: StreamLayout, rendition?: string): FaultEnv {
    const manifests =
      stream.protocol === 'dash'
        ? [stream.entry]
        : stream.renditions
            .filter((r) => r.playlist && (!rendition || r.name === rendition))
            .map((r) => r.playlist!);
    return {
      store: this.opts.store,
      truth: this.opts.truth,
      stream,
      segmentS: this.opts.segmentS,
      source: this.opts.source,
      manifests,
      currentView: (path) => {
        const rendition = stream.renditions.find((r) => r.playlist === path);
        const ref: ResourceRef = {
          stream,
          kind: stream.protocol === 'dash' ? 'mpd' : 'playlist',
          path,
          ...(rendition ? { rendition } : {}),
        };
        return this.opts.publisher.manifest(ref, this.opts.store.latest(path));
      },
    };
  }

  private matching(ref: ResourceRef): Entry[] {
    const out: Entry[] = [];
    for (const e of this.active.values()) {
      const r = e.fault.record;
      if (r.stream !== ref.stream.id) continue;
      if (r.rendition !== undefined && r.rendition !== ref.rendition?.name) continue;
      out.push(e);
    }
    return out;
  }

  /** Faults of the stream that edit its entry (master / MPD), whether or not they name a rendition. */
  private entryEditors(ref: ResourceRef): Entry[] {
    if (ref.kind !== 'master' && ref.kind !== 'mpd') return [];
    return [...this.active.values()].filter(
      (e) => e.fault.record.stream === ref.stream.id && e.module.editEntry,
    );
  }

  private ctx(ref: ResourceRef, now: number): RequestCtx {
    return { ref, now, segmentS: this.opts.segmentS, truth: this.opts.truth, store: this.opts.store };
  }

  /** What the painted source shows now: black wins over freeze (a frozen black frame is black). */
  picture(): PictureMode | undefined {
    let mode: PictureMode | undefined;
    for (const e of this.active.values()) {
      const m = e.module.picture?.(e.fault);
      if (m === 'black') return m;
      mode ??= m;
    }
    return mode;
  }

  // --- OriginHooks ---

  plan(ref: ResourceRef, now: number): ServePlan {
    const plan: ServePlan = {};
    const ctx = this.ctx(ref, now);
    for (const e of this.matching(ref)) {
      const p = e.module.plan?.(e.fault, ctx);
      if (!p) continue;
      if (p.hang) {
        plan.hang = true;
        if (p.hangUntil) plan.hangUntil = p.hangUntil;
      }
      if (p.delayMs) plan.delayMs = (plan.delayMs ?? 0) + p.delayMs;
      if (p.status && plan.status === undefined) plan.status = p.status;
      if (p.pad) plan.pad = p.pad;
      if (p.throttleBps)
        plan.throttleBps = Math.min(plan.throttleBps ?? Number.POSITIVE_INFINITY, p.throttleBps);
    }
    return plan;
  }

  manifest(ref: ResourceRef, latest: ManifestVersion | undefined, now: number): ManifestView | undefined {
    const faults = this.matching(ref);
    const entryEditors = this.entryEditors(ref);
    if (faults.length === 0 && entryEditors.length === 0) return this.opts.publisher.manifest(ref, latest);
    const ctx = this.ctx(ref, now);
    for (const e of faults) {
      const frozen = e.module.freeze?.(e.fault, ctx);
      if (frozen) return frozen;
    }
    let version = latest;
    for (const e of faults) {
      const older = e.module.selectVersion?.(e.fault, ctx);
      if (older && (!version || older.at < version.at)) version = older;
    }
    if (!version) return undefined;
    let text = this.opts.publisher.text(ref, version);
    if (ref.kind === 'playlist') {
      const editors = faults.filter((e) => e.module.editPlaylist);
      if (editors.length) {
        const p = parseMediaPlaylist(text);
        for (const e of editors) e.module.editPlaylist!(e.fault, p, ctx);
        text = serializeMediaPlaylist(p);
      }
    } else if (ref.kind === 'mpd') {
      for (const e of faults) if (e.module.editMpd) text = e.module.editMpd(e.fault, text, ctx);
    }
    for (const e of entryEditors) text = e.module.editEntry!(e.fault, text, ctx);
    return { text, at: version.at };
  }

  segmentBody(ref: ResourceRef, now: number): ((body: Buffer) => Buffer) | undefined {
    const editors = this.matching(ref).filter((e) => e.module.segmentBody);
    if (editors.length === 0) return undefined;
    const ctx = this.ctx(ref, now);
    return (body) => editors.reduce((b, e) => e.module.segmentBody!(e.fault, b, ctx), body);
  }

  segmentVisible(ref: ResourceRef, now: number): boolean {
    const ctx = this.ctx(ref, now);
    return this.matching(ref).every((e) => e.module.segmentVisible?.(e.fault, ctx) ?? true);
  }
}
