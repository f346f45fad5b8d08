import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { RegionProgress, Sweep, SweepRequest } from '../shared/api.js';
import { adHocTargetId } from '../shared/ids.js';
import type { Logger } from '../shared/log.js';
import type { Job, Report, TargetRef } from '../shared/schemas.js';
import type { Names } from '../shared/subjects.js';
import { encodeJson } from '../shared/transport.js';
import type { EventBus } from './events.js';
import type { TargetStore } from './state/targets.js';
import type { Topology } from './state/topology.js';

export class UnknownTargetError extends Error {
  constructor(readonly ids: string[]) {
    super(`unknown target id(s): ${ids.join(', ')}`);
  }
}

export interface SweepServiceOptions {
  js: JetStreamClient;
  names: Names;
  targets: TargetStore;
  topology: Topology;
  events: EventBus;
  logger: Logger;
  /** How long past durationS a sweep waits for its reports before it is done with some missing. */
  graceS?: number;
  /** Finished sweeps kept in memory. */
  keep?: number;
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

/** A sweep = one job per target x region on the regions' work queues, tracked until every report is in. */
export class SweepService {
  private readonly sweeps = new Map<string, Sweep>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  constructor(private readonly opts: SweepServiceOptions) {}

  /** Target ids of a request that are not registered (a schedule must not store a sweep that cannot run). */
  unknownTargets(req: SweepRequest): string[] {
    return req.targets.filter((t): t is string => typeof t === 'string' && !this.opts.targets.get(t));
  }

  resolveTargets(req: SweepRequest): TargetRef[] {
    const unknown: string[] = [];
    const refs: TargetRef[] = [];
    for (const t of req.targets) {
      if (typeof t === 'string') {
        const found = this.opts.targets.get(t);
        if (found) refs.push({ id: found.id, url: found.url, protocol: found.protocol });
        else unknown.push(t);
      } else {
        refs.push({ id: t.id ?? adHocTargetId(t.url), url: t.url, protocol: t.protocol });
      }
    }
    if (unknown.length) throw new UnknownTargetError(unknown);
    return refs;
  }

  async create(req: SweepRequest): Promise<Sweep> {
    const targets = this.resolveTargets(req);
    const id = randomUUID();
    const now = Date.now();
    const deadline = new Date(now + (req.durationS + (this.opts.graceS ?? 90)) * 1000);
    const sweep: Sweep = {
      id,
      state: 'queued',
      createdAt: new Date(now).toISOString(),
      deadline: deadline.toISOString(),
      probe: req.probe,
      durationS: req.durationS,
      targets,
      regions: [...new Set(req.regions)],
      expected: 0,
      received: 0,
      perRegion: {},
      reports: [],
    };
    this.sweeps.set(id, sweep);
    let n = 0;
    for (const region of sweep.regions) {
      await this.opts.topology.ensureRegion(region);
      sweep.perRegion[region] = emptyProgress();
      for (const target of targets) {
        const job: Job = {
          id: `${id}.${n++}`,
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
        };
        // msgID = job id: a retried enqueue is deduplicated by the stream, never run twice.
        await this.opts.js.publish(this.opts.names.jobs(region), encodeJson(job), { msgID: job.id });
        sweep.expected++;
        (sweep.perRegion[region] as RegionProgress).expected++;
      }
    }
    sweep.state = 'running';
    this.timers.set(
      id,
      setTimeout(() => this.expire(id), deadline.getTime() - now),
    );
    this.emit(sweep);
    this.opts.logger.info({ sweepId: id, jobs: sweep.expected, regions: sweep.regions }, 'sweep queued');
    return sweep;
  }

  /** Called by ingest for every report; idempotent per report id. */
  onReport(report: Report): void {
    if (!report.sweepId) return;
    const sweep = this.sweeps.get(report.sweepId);
    if (!sweep || sweep.reports.some((r) => r.id === report.id)) return;
    const region = sweep.perRegion[report.region];
    if (!region) return;
    sweep.reports.push(report);
    sweep.received++;
    region.received++;
    const key = report.outcome === 'probe-error' ? 'probeError' : report.outcome;
    region[key]++;
    if (sweep.received >= sweep.expected) this.finish(sweep);
    else this.emit(sweep);
  }

  private expire(id: string): void {
    const sweep = this.sweeps.get(id);
    if (!sweep || sweep.state === 'done') return;
    for (const p of Object.values(sweep.perRegion)) p.missing = p.expected - p.received;
    this.opts.logger.warn(
      { sweepId: id, missing: sweep.expected - sweep.received },
      'sweep deadline passed with reports missing',
    );
    this.finish(sweep);
  }

  private finish(sweep: Sweep): void {
    sweep.state = 'done';
    sweep.finishedAt = new Date().toISOString();
    const timer = this.timers.get(sweep.id);
    if (timer) clearTimeout(timer);
    this.timers.delete(sweep.id);
    this.emit(sweep);
    this.trim();
  }

  private emit(s: Sweep): void {
    this.opts.events.emit('sweep', { id: s.id, state: s.state, received: s.received, expected: s.expected });
  }

  private trim(): void {
    const keep = this.opts.keep ?? 500;
    if (this.sweeps.size <= keep) return;
    for (const [id, s] of this.sweeps) {
      if (this.sweeps.size <= keep) break;
      if (s.state === 'done') this.sweeps.delete(id);
    }
  }

  get(id: string): Sweep | undefined {
    return this.sweeps.get(id);
  }

  list(): Sweep[] {
    return [...this.sweeps.values()];
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
