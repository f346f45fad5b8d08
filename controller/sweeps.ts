import { randomUUID } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import { type RegionProgress, Sweep, SweepRequest, type SweepVerdict } from '../shared/api.js';
import { adHocTargetId } from '../shared/ids.js';
import type { Logger } from '../shared/log.js';
import type { ReportCore } from '../shared/report-core.js';
import type { Job, Report, Target, TargetRef } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import type { EventBus } from './events.js';
import { type BaselineLookup, cellStats, judgeSweep } from './readiness/verdict.js';
import { KvCollection } from './state/kvcollection.js';
import type { TargetStore } from './state/targets.js';
import type { Topology } from './state/topology.js';

export class UnknownTargetError extends Error {
  constructor(readonly ids: string[]) {
    super(`unknown target id(s): ${ids.join(', ')}`);
  }
}

/** A sweep naming a region no agent serves: refused up front, with the regions that exist. */
export class UnknownRegionError extends Error {
  constructor(
    readonly regions: string[],
    readonly known: string[],
  ) {
    super(
      `unknown region(s): ${regions.join(', ')}; known regions: ${known.length ? known.join(', ') : '(none: no agent has reported yet)'}`,
    );
  }
}

/** A sweep that cannot be made: a selector or ["*"] that matched nothing, or too many cells. */
export class EmptySweepError extends Error {}

/** What the sweep's regions can run now (from agents' heartbeats), for the capacity estimate. */
export interface RegionCapacityView {
  region: string;
  agents: { online: number };
  capacity: Record<'browser' | 'stream', number>;
  free: Record<'browser' | 'stream', number>;
}

export interface SweepServiceOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  targets: TargetStore;
  topology: Topology;
  events: EventBus;
  logger: Logger;
  /** The sweeps bucket (JetStream KV): every replica serves every sweep; a restart loses nothing. */
  kv: KV;
  /** Regions with agents, with their free slots (controller/fleet.ts). */
  regions: () => RegionCapacityView[];
  /** Stops the running jobs of a cancelled sweep on every agent (a broadcast). */
  stopJobs?: (sweepId: string) => void;
  /** How long past durationS a sweep waits for its reports before it is done with some missing. */
  graceS?: number;
  /** Finished sweeps kept. */
  keep?: number;
}

/** The stored record: the API's Sweep plus the stream sequence of each queued job (cancel deletes them). */
const SweepRecord = Sweep.extend({ jobSeqs: z.array(z.number().int()).default([]) });
type SweepRecord = z.infer<typeof SweepRecord>;

export interface CapacityEstimate {
  region: string;
  jobs: number;
  agents: number;
  freeSlots: number;
  /** Seconds until the last job of this region could start (0: all start now; null: no agent online). */
  expectedWaitS: number | null;
}

export interface CreateOptions {
  /** The token's name. */
  author?: string;
  /** Refuse regions no agent has announced (the API does; a schedule or the demo may queue ahead). */
  strictRegions?: boolean;
}

const emptyProgress = (): RegionProgress => ({
  expected: 0,
  received: 0,
  ok: 0,
  degraded: 0,
  failed: 0,
  probeError: 0,
  missing: 0,
});

/**
 * A sweep is one KV value (at most the NATS max payload, 1 MiB by default): a trimmed report and its verdict
 * cell take ~2-3 KiB, so a sweep is bounded in cells. Bigger checks are several sweeps (by label selector).
 */
export const MAX_SWEEP_CELLS = 300;

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Reports kept in the sweep record: segment timings dropped, errors, findings and reasons capped and cut. */
function trimReport(r: ReportCore): Report {
  return {
    ...r,
    reasons: r.reasons.slice(0, 10).map((x) => cut(x, 300)),
    segments: [],
    errors: r.errors.slice(0, 5).map((e) => ({ ...e, details: cut(e.details, 300) })),
    findings: r.findings.slice(0, 10).map((f) => ({ ...f, evidence: cut(f.evidence, 300) })),
  };
}

/** `a=b,c!=d` -> matcher over a label map. */
export function parseSelector(sel: string): (labels: Record<string, string>) => boolean {
  const terms = sel
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const m = /^([^=!\s]+)\s*(!=|==|=)\s*(.*)$/.exec(t);
      if (!m) throw new Error(`bad selector term: ${t}`);
      return { name: m[1] as string, neg: m[2] === '!=', value: (m[3] as string).trim() };
    });
  return (labels) => terms.every((t) => (labels[t.name] === t.value) !== t.neg);
}

/**
 * A sweep = one job per target x region on the regions' work queues, tracked until every report is in, then
 * judged (controller/readiness/verdict.ts). Sweeps live in JetStream KV: whichever replica ingests a report
 * updates the sweep with compare-and-set, and every replica checks deadlines, so a controller restarted
 * mid-sweep loses nothing.
 */
export class SweepService {
  private readonly store: KvCollection<typeof SweepRecord>;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Per-sweep update chain of this replica: reports of one sweep are applied one at a time. */
  private readonly chains = new Map<string, Promise<unknown>>();
  constructor(private readonly opts: SweepServiceOptions) {
    this.store = new KvCollection(opts.kv, SweepRecord, opts.logger);
  }

  async start(): Promise<void> {
    await this.store.start();
    this.timer = setInterval(() => this.checkDeadlines(), 1000);
    this.timer.unref();
  }

  /** Target ids of a request that are not registered (a schedule must not store a sweep that cannot run). */
  unknownTargets(req: Pick<SweepRequest, 'targets'>): string[] {
    return req.targets.filter((t): t is string => typeof t === 'string' && !this.opts.targets.get(t));
  }

  resolveTargets(req: Pick<SweepRequest, 'targets' | 'selector'>): TargetRef[] {
    const unknown: string[] = [];
    const refs = new Map<string, TargetRef>();
    for (const t of req.targets) {
      if (typeof t === 'string') {
        const found = this.opts.targets.get(t);
        if (found) refs.set(found.id, { id: found.id, url: found.url, protocol: found.protocol });
        else unknown.push(t);
      } else {
        const id = t.id ?? adHocTargetId(t.url);
        refs.set(id, { id, url: t.url, protocol: t.protocol });
      }
    }
    if (unknown.length) throw new UnknownTargetError(unknown);
    if (req.selector) {
      const match = parseSelector(req.selector);
      for (const t of this.opts.targets.list()) {
        if (match(t.labels)) refs.set(t.id, { id: t.id, url: t.url, protocol: t.protocol });
      }
    }
    return [...refs.values()];
  }

  /** Regions named or implied ("*") by a request; throws UnknownRegionError when strict. */
  resolveRegions(regions: string[], strict: boolean): string[] {
    const known = this.opts.regions();
    const online = known.filter((r) => r.agents.online > 0).map((r) => r.region);
    const out = new Set<string>();
    for (const r of regions) {
      if (r === '*') for (const o of online) out.add(o);
      else out.add(r);
    }
    if (strict) {
      const names = new Set(known.map((r) => r.region));
      const unknown = [...out].filter((r) => !names.has(r));
      if (unknown.length) throw new UnknownRegionError(unknown, [...names].sort());
    }
    if (out.size === 0) throw new EmptySweepError('no region has an online agent ("*" matched nothing)');
    return [...out];
  }

  capacity(sweep: Pick<Sweep, 'regions' | 'perRegion' | 'probe' | 'durationS'>): CapacityEstimate[] {
    const byRegion = new Map(this.opts.regions().map((r) => [r.region, r]));
    return sweep.regions.map((region) => {
      const jobs = sweep.perRegion[region]?.expected ?? 0;
      const r = byRegion.get(region);
      const free = r?.free[sweep.probe] ?? 0;
      const cap = r?.capacity[sweep.probe] ?? 0;
      // Jobs beyond the free slots wait for whole rounds of durationS on the region's full capacity.
      const waitRounds = jobs <= free ? 0 : cap > 0 ? Math.ceil((jobs - free) / cap) : null;
      return {
        region,
        jobs,
        agents: r?.agents.online ?? 0,
        freeSlots: free,
        expectedWaitS: waitRounds === null ? null : waitRounds * sweep.durationS,
      };
    });
  }

  async create(input: z.input<typeof SweepRequest>, o: CreateOptions = {}): Promise<Sweep> {
    const req = SweepRequest.parse(input);
    const targets = this.resolveTargets(req);
    if (targets.length === 0) throw new EmptySweepError(`the selector "${req.selector}" matched no target`);
    const regions = this.resolveRegions(req.regions, o.strictRegions ?? false);
    if (targets.length * regions.length > MAX_SWEEP_CELLS)
      throw new EmptySweepError(
        `${targets.length} targets x ${regions.length} regions = ${targets.length * regions.length} cells; a sweep holds at most ${MAX_SWEEP_CELLS}: split it (e.g. by label selector)`,
      );
    const id = randomUUID();
    const now = Date.now();
    const deadline = new Date(now + (req.durationS + (this.opts.graceS ?? 90)) * 1000);
    const sweep: SweepRecord = {
      id,
      name: req.name,
      event: req.event,
      author: o.author ?? 'anonymous',
      state: 'queued',
      createdAt: new Date(now).toISOString(),
      deadline: deadline.toISOString(),
      probe: req.probe,
      durationS: req.durationS,
      selector: req.selector,
      allowMissingRegions: req.allowMissingRegions,
      targets,
      regions,
      expected: 0,
      received: 0,
      perRegion: {},
      reports: [],
      baseline: false,
      jobSeqs: [],
    };
    const jobs: Job[] = [];
    for (const region of regions) {
      sweep.perRegion[region] = emptyProgress();
      for (const target of targets) {
        jobs.push({
          id: `${id}.${jobs.length}`,
          sweepId: id,
          target,
          region,
          probe: req.probe,
          mode: 'check',
          durationS: req.durationS,
          createdAt: sweep.createdAt,
          deadline: sweep.deadline,
          expectations: this.opts.targets.get(target.id)?.expectations ?? {},
          rendition: this.opts.targets.get(target.id)?.rendition,
          auth: this.opts.targets.get(target.id)?.auth,
        });
        sweep.expected++;
        (sweep.perRegion[region] as RegionProgress).expected++;
      }
    }
    // Stored before the first job is queued: a report can never arrive for a sweep no replica knows.
    await this.store.put(sweep);
    const seqs: number[] = [];
    for (const job of jobs) {
      await this.opts.topology.ensureRegion(job.region);
      // msgID = job id: a retried enqueue is deduplicated by the stream, never run twice.
      const ack = await this.opts.js.publish(this.opts.names.jobs(job.region), encodeJson(job), {
        msgID: job.id,
      });
      seqs.push(ack.seq);
    }
    const stored = await this.store.mutate(id, (cur) =>
      cur.state === 'queued' ? { ...cur, state: 'running', jobSeqs: seqs } : { ...cur, jobSeqs: seqs },
    );
    this.emit(stored ?? sweep);
    this.opts.logger.info(
      { sweepId: id, jobs: sweep.expected, regions, author: sweep.author },
      'sweep queued',
    );
    return this.view(stored ?? sweep);
  }

  /** Called by ingest (and the start-up replay) for every report; idempotent per report id. */
  onReport(report: ReportCore): void {
    if (!report.sweepId || report.seq !== 0) return;
    const sweepId = report.sweepId;
    const known = this.store.get(sweepId);
    if (!known || known.state === 'done' || known.state === 'cancelled') return;
    if (known.reports.some((r) => r.id === report.id)) return;
    this.chain(sweepId, async () => {
      const updated = await this.store.mutate(sweepId, (cur) => {
        if (cur.state === 'done' || cur.state === 'cancelled') return undefined;
        const region = cur.perRegion[report.region];
        if (!region || cur.reports.some((r) => r.id === report.id)) return undefined;
        const next = structuredClone(cur);
        const reg = next.perRegion[report.region] as RegionProgress;
        next.reports.push(trimReport(report));
        next.received++;
        reg.received++;
        reg[report.outcome === 'probe-error' ? 'probeError' : report.outcome]++;
        if (next.received >= next.expected) this.finishInPlace(next);
        return next;
      });
      if (updated) this.emit(updated);
    });
  }

  /** DELETE /v1/sweeps/:id: queued jobs are deleted from the work queues, running ones stopped on the agents. */
  async cancel(id: string, by = 'anonymous'): Promise<Sweep | undefined> {
    const cur = this.store.get(id);
    if (!cur) return undefined;
    const updated = await this.store.mutate(id, (c) => {
      if (c.state === 'done' || c.state === 'cancelled') return undefined;
      const next = structuredClone(c);
      next.state = 'cancelled';
      next.cancelledBy = by;
      for (const p of Object.values(next.perRegion)) p.missing = p.expected - p.received;
      next.finishedAt = new Date().toISOString();
      Object.assign(next, this.judge(next));
      return next;
    });
    if (!updated) return undefined;
    if (updated.state === 'cancelled' && updated.cancelledBy === by) {
      let deleted = 0;
      for (const seq of updated.jobSeqs) {
        // A job already taken is no longer in the work queue (or is, unacked: deleting it is harmless).
        if (
          await this.opts.jsm.streams.deleteMessage(this.opts.names.jobsStream, seq, false).catch(() => false)
        )
          deleted++;
      }
      this.opts.stopJobs?.(id);
      this.opts.logger.info({ sweepId: id, by, deletedJobs: deleted }, 'sweep cancelled');
    }
    this.emit(updated);
    return this.view(updated);
  }

  /** POST /v1/sweeps/:id/baseline: this sweep is the reference for later sweeps of its targets. */
  async markBaseline(id: string): Promise<Sweep | undefined> {
    const updated = await this.store.mutate(id, (c) => (c.baseline ? undefined : { ...c, baseline: true }));
    return updated && this.view(updated);
  }

  /**
   * Runs `fn` after this sweep's earlier updates. A failure (NATS restarting, a cluster electing a leader) is
   * retried for up to a minute: a report dropped here would leave its sweep short until the deadline.
   */
  private chain(id: string, fn: () => Promise<void>): void {
    const retrying = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (attempt >= 60 || this.stopped) throw err;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev
      .then(retrying)
      .catch((err) => this.opts.logger.error({ err, sweepId: id }, 'sweep update failed'))
      .finally(() => {
        if (this.chains.get(id) === next) this.chains.delete(id);
      });
    this.chains.set(id, next);
  }

  private checkDeadlines(): void {
    const now = Date.now();
    for (const s of this.store.list()) {
      if ((s.state === 'running' || s.state === 'queued') && Date.parse(s.deadline) <= now) {
        this.chain(s.id, async () => {
          const updated = await this.store.mutate(s.id, (cur) => {
            if (cur.state === 'done' || cur.state === 'cancelled') return undefined;
            const next = structuredClone(cur);
            for (const p of Object.values(next.perRegion)) p.missing = p.expected - p.received;
            this.finishInPlace(next);
            return next;
          });
          if (updated?.state === 'done') {
            this.opts.logger.warn(
              { sweepId: s.id, missing: updated.expected - updated.received },
              'sweep deadline passed with reports missing',
            );
            this.emit(updated);
          }
        });
      }
    }
  }

  private finishInPlace(s: SweepRecord): void {
    s.state = 'done';
    s.finishedAt = new Date().toISOString();
    Object.assign(s, this.judge(s));
    this.trimSoon();
  }

  /** The stored verdict of a finished sweep, or a provisional one for a sweep still running. */
  verdictOf(s: Sweep): SweepVerdict {
    if (s.verdict && s.cells) return { verdict: s.verdict, reasons: s.reasons ?? [], cells: s.cells };
    return this.judge({ ...s, jobSeqs: [] });
  }

  private judge(s: SweepRecord) {
    return judgeSweep({
      sweep: s,
      target: (id) => this.opts.targets.get(id) as Target | undefined,
      baseline: this.baselineFor(s),
    });
  }

  /**
   * The reference for a target x region: the newest sweep marked as baseline that covered it, else the newest
   * sweep of the same probe kind whose cell was `go`.
   */
  private baselineFor(s: Pick<Sweep, 'id' | 'probe' | 'createdAt'>): BaselineLookup {
    const earlier = this.store
      .list()
      .filter((x) => x.id !== s.id && x.probe === s.probe && x.state === 'done' && x.createdAt < s.createdAt)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    return (target, region) => {
      const cellOf = (x: SweepRecord) => x.cells?.find((c) => c.target === target && c.region === region);
      const marked = earlier.find((x) => x.baseline && cellOf(x)?.reports);
      const found = marked ?? earlier.find((x) => cellOf(x)?.verdict === 'go');
      if (!found) return undefined;
      const reports = found.reports.filter((r) => r.target.id === target && r.region === region);
      return { sweepId: found.id, stats: cellStats(reports) };
    };
  }

  private trimScheduled = false;
  private trimSoon(): void {
    if (this.trimScheduled) return;
    this.trimScheduled = true;
    setTimeout(() => {
      this.trimScheduled = false;
      void this.trim().catch((err) => this.opts.logger.warn({ err }, 'sweep trim failed'));
    }, 1000).unref();
  }

  private async trim(): Promise<void> {
    const keep = this.opts.keep ?? 500;
    const done = this.store
      .list()
      .filter((s) => (s.state === 'done' || s.state === 'cancelled') && !s.baseline)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const all = this.store.list().length;
    for (let i = 0; i < done.length && all - i > keep; i++)
      await this.store.delete((done[i] as SweepRecord).id);
  }

  private emit(s: Sweep): void {
    this.opts.events.emit('sweep', { id: s.id, state: s.state, received: s.received, expected: s.expected });
  }

  private view(r: SweepRecord): Sweep {
    const { jobSeqs: _j, ...rest } = r;
    return rest;
  }

  get(id: string): Sweep | undefined {
    const r = this.store.get(id);
    return r && this.view(r);
  }

  /** Newest first. */
  list(): Sweep[] {
    return this.store
      .list()
      .map((r) => this.view(r))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** The labels of a sweep's target (reports carry target ids; labels live with the target). */
  labelsOf(targetId: string): Record<string, string> {
    return this.opts.targets.get(targetId)?.labels ?? {};
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.chains.values()]);
    await this.store.stop();
  }
}
