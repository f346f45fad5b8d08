import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import { ProbeKind } from '../../shared/schemas.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';
import {
  type Bucket,
  emptyBucket,
  finish,
  GROUP_BY,
  mergeInto,
  type SummaryGroup,
  type SummaryQuery,
  WINDOWS,
  type WindowName,
} from '../aggregate/aggregator.js';
import type { ReportLine } from '../latest.js';
import type { PartitionLeases } from './leases.js';
import type { PartitionOwner, PartitionState } from './owner.js';
import { bucketIn, bucketOut, WireBucket } from './wire.js';

/** A reply message stays under this (NATS refuses payloads over max_payload, 1 MiB by default). */
const CHUNK_BYTES = 512 * 1024;

const Window = z.enum(Object.keys(WINDOWS) as [WindowName]);
const Query = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('summary'),
    q: z.object({
      window: Window,
      groupBy: z.union([z.enum(GROUP_BY), z.templateLiteral(['label:', z.string()])]),
      target: z.string().optional(),
      region: z.string().optional(),
      probe: ProbeKind.optional(),
    }),
    by: z.enum(['cell', 'series']).optional(),
  }),
  z.object({
    kind: z.literal('timeline'),
    target: z.string(),
    region: z.string().optional(),
    probe: ProbeKind.optional(),
    fromMs: z.number(),
    stepMs: z.number().int().positive(),
  }),
  z.object({ kind: z.literal('latest'), cells: z.array(z.string()).max(100_000) }),
  z.object({
    kind: z.literal('alerting'),
    windows: z.array(Window).max(3),
    targets: z.array(z.string()).max(1_000_000).optional(),
  }),
]);
type Query = z.infer<typeof Query>;

const Item = z.tuple([z.string(), z.unknown()]);
/** One chunk of one partition's answer. */
const Part = z.object({
  replica: z.string(),
  p: z.string(),
  rev: z.number(),
  i: z.number().int().min(0),
  n: z.number().int().min(1),
  items: z.array(Item),
  times: z.array(z.number()).optional(),
});
type Part = z.infer<typeof Part>;

export interface Merged<T> {
  value: T;
  /** Partitions whose owner did not answer within the deadline (their figures are not in `value`). */
  missing: string[];
}

export interface ClusterOptions {
  nc: NatsConnection;
  subject: string;
  replicaId: string;
  leases: PartitionLeases;
  owner: PartitionOwner;
  /** Every partition id: an answer is complete when each one answered. */
  partitions: readonly string[];
  deadlineMs: number;
  logger: Logger;
}

/**
 * Fleet-wide answers from any replica: a query goes to every replica over NATS request/reply; each answers
 * for the partitions it owns (one message per partition, chunked), with the lease revision it holds them
 * at. The asker keeps, per partition, the answer of the newest owner (highest revision: during a hand-over
 * the old owner may still answer), merges the window accumulators (counts add, DDSketches merge), and waits
 * at most the deadline: a partition that did not answer is named in `missing` — the caller says `partial`
 * instead of under-counting silently.
 */
export class Cluster {
  private sub: Subscription | undefined;
  readonly stats = { queries: 0, partial: 0, served: 0 };

  constructor(private readonly opts: ClusterOptions) {}

  start(): void {
    this.sub = this.opts.nc.subscribe(this.opts.subject, {
      callback: (err, msg) => {
        if (err || !msg.reply) return;
        const reply = msg.reply;
        let q: Query;
        try {
          q = Query.parse(decodeJson(msg.data));
        } catch (e) {
          this.opts.logger.warn({ err: (e as Error).message }, 'malformed cluster query; ignored');
          return;
        }
        this.stats.served++;
        try {
          for (const part of this.answer(q)) this.opts.nc.publish(reply, encodeJson(part));
        } catch (e) {
          this.opts.logger.error({ err: e }, 'cluster query failed');
        }
      },
    });
  }

  /** This replica's parts of an answer: its owned, complete partitions only. */
  private *answer(q: Query): Generator<Part> {
    const owned = this.opts.leases.owned();
    for (const { partition, revision } of owned) {
      const state = this.opts.owner.states.get(partition);
      if (!state) continue;
      const { items, times } = this.local(state, q);
      yield* chunk(this.opts.replicaId, partition, revision, items, times);
    }
  }

  private local(state: PartitionState, q: Query): { items: [string, unknown][]; times?: number[] } {
    switch (q.kind) {
      case 'summary': {
        const acc = state.aggregator.partial(q.q as SummaryQuery, q.by);
        return { items: [...acc].map(([k, b]) => [k, bucketOut(b)]) };
      }
      case 'timeline': {
        const tl = state.aggregator.timelineBuckets(q);
        return {
          times: tl.times,
          items: [...tl.rows].map(([region, row]) => [region, row.map((b) => (b ? bucketOut(b) : null))]),
        };
      }
      case 'alerting': {
        const items: [string, unknown][] = [];
        const only = q.targets ? new Set(q.targets) : undefined;
        for (const window of q.windows) {
          for (const [key, b] of state.aggregator.partial({ window, groupBy: 'target' }, 'series'))
            if (!only || only.has(key.slice(0, key.indexOf('\u0000'))))
              items.push([`${window}\u0000S\u0000${key}`, bucketOut(b)]);
          for (const [region, b] of state.aggregator.partial({ window, groupBy: 'region' }))
            items.push([`${window}\u0000R\u0000${region}`, bucketOut(b)]);
        }
        return { items };
      }
      case 'latest': {
        const items: [string, unknown][] = [];
        for (const cell of q.cells) {
          const [target = '', region = ''] = cell.split('\u0000');
          const lines = state.latest.get(target, region);
          if (lines.length) items.push([cell, lines]);
        }
        return { items };
      }
    }
  }

  /** Scatter a query, gather every partition's part (or the deadline), newest owner per partition. */
  private async gather(q: Query): Promise<{ parts: Map<string, Part[]>; missing: string[] }> {
    this.stats.queries++;
    const want = new Set(this.opts.partitions);
    const best = new Map<string, { rev: number; chunks: Map<number, Part>; n: number }>();
    const complete = new Set<string>();
    const iter = await this.opts.nc.requestMany(this.opts.subject, encodeJson(q), {
      maxWait: this.opts.deadlineMs,
      strategy: 'timer',
    });
    try {
      for await (const msg of iter) {
        let part: Part;
        try {
          part = Part.parse(decodeJson(msg.data));
        } catch {
          continue;
        }
        if (!want.has(part.p)) continue;
        let b = best.get(part.p);
        if (!b || part.rev > b.rev) {
          b = { rev: part.rev, chunks: new Map(), n: part.n };
          best.set(part.p, b);
          complete.delete(part.p);
        } else if (part.rev < b.rev) continue;
        b.chunks.set(part.i, part);
        if (b.chunks.size === b.n) complete.add(part.p);
        if (complete.size === want.size) break;
      }
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'cluster query ended early');
    }
    const parts = new Map<string, Part[]>();
    for (const p of complete) parts.set(p, [...(best.get(p)?.chunks.values() ?? [])]);
    const missing = [...want].filter((p) => !complete.has(p));
    if (missing.length) this.stats.partial++;
    return { parts, missing };
  }

  /** Accumulators of a summary over the whole fleet (by group key, or by cell / series). */
  async summaryBuckets(q: SummaryQuery, by?: 'cell' | 'series'): Promise<Merged<Map<string, Bucket>>> {
    const { parts, missing } = await this.gather({ kind: 'summary', q, by });
    return { value: mergeParts(parts), missing };
  }

  /**
   * What the alerting lease holder evaluates: per window, the series (target x region x probe) of some
   * targets and every region's totals, merged over the fleet.
   */
  async alertingWindows(windows: WindowName[], targets?: string[]): Promise<Merged<MergedWindows>> {
    const { parts, missing } = await this.gather({ kind: 'alerting', windows, targets });
    return { value: new MergedWindows(mergeParts(parts)), missing };
  }

  async summary(q: SummaryQuery): Promise<Merged<SummaryGroup[]>> {
    const r = await this.summaryBuckets(q);
    return { value: finish(r.value), missing: r.missing };
  }

  async timeline(q: {
    target: string;
    region?: string;
    probe?: ProbeKind;
    fromMs: number;
    stepMs: number;
  }): Promise<
    Merged<{ times: number[]; regions: { region: string; steps: (SummaryGroup | undefined)[] }[] }>
  > {
    const { parts, missing } = await this.gather({ kind: 'timeline', ...q });
    let times: number[] = [];
    const rows = new Map<string, (Bucket | undefined)[]>();
    for (const chunks of parts.values())
      for (const c of chunks) {
        if (c.times && c.times.length > times.length) times = c.times;
        for (const [region, raw] of c.items) {
          const steps = z.array(WireBucket.nullable()).parse(raw);
          let row = rows.get(region);
          if (!row) {
            row = [];
            rows.set(region, row);
          }
          steps.forEach((w, i) => {
            if (!w) return;
            let into = (row as (Bucket | undefined)[])[i];
            if (!into) {
              into = emptyBucket(0);
              (row as (Bucket | undefined)[])[i] = into;
            }
            mergeInto(into, bucketIn(w));
          });
        }
      }
    if (!times.length) {
      const from = Math.floor(q.fromMs / 15_000) * 15_000;
      const steps = Math.max(1, Math.ceil((Date.now() - from) / q.stepMs));
      times = Array.from({ length: steps }, (_, i) => from + i * q.stepMs);
    }
    return {
      missing,
      value: {
        times,
        regions: [...rows.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([region, row]) => ({
            region,
            steps: Array.from({ length: times.length }, (_, i) => {
              const b = row[i];
              return b ? finish(new Map([[region, b]]))[0] : undefined;
            }),
          })),
      },
    };
  }

  /** The last reports of some target x region cells (`target\0region`), from their owners. */
  async latest(cells: string[]): Promise<Merged<Map<string, ReportLine[]>>> {
    const { parts, missing } = await this.gather({ kind: 'latest', cells });
    const out = new Map<string, ReportLine[]>();
    for (const chunks of parts.values())
      for (const c of chunks)
        for (const [cell, lines] of c.items) {
          const all = [...(out.get(cell) ?? []), ...(lines as ReportLine[])];
          out.set(cell, all.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, 5));
        }
    return { value: out, missing };
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}

/** One partition's items in messages of at most ~CHUNK_BYTES each (always at least one message). */
function* chunk(
  replica: string,
  p: string,
  rev: number,
  items: [string, unknown][],
  times?: number[],
): Generator<Part> {
  const groups: [string, unknown][][] = [[]];
  let size = 0;
  for (const item of items) {
    const len = JSON.stringify(item).length;
    if (size + len > CHUNK_BYTES && (groups.at(-1) as unknown[]).length) {
      groups.push([]);
      size = 0;
    }
    (groups.at(-1) as [string, unknown][]).push(item);
    size += len;
  }
  for (let i = 0; i < groups.length; i++)
    yield {
      replica,
      p,
      rev,
      i,
      n: groups.length,
      items: groups[i] as [string, unknown][],
      ...(times ? { times } : {}),
    };
}

/**
 * A fleet-wide snapshot of the windows alerting reads, answering `summary` like an Aggregator for the
 * queries the pipeline makes: a target's rows per region (optionally one probe kind), and region totals.
 */
export class MergedWindows {
  private readonly series = new Map<
    WindowName,
    { target: string; region: string; probe: string; b: Bucket }[]
  >();
  private readonly regions = new Map<WindowName, Map<string, Bucket>>();

  constructor(acc: Map<string, Bucket>) {
    for (const [key, b] of acc) {
      const [window, kind, ...rest] = key.split('\u0000') as [WindowName, string, ...string[]];
      if (kind === 'R') {
        let m = this.regions.get(window);
        if (!m) {
          m = new Map();
          this.regions.set(window, m);
        }
        m.set(rest[0] ?? '', b);
      } else {
        let list = this.series.get(window);
        if (!list) {
          list = [];
          this.series.set(window, list);
        }
        list.push({ target: rest[0] ?? '', region: rest[1] ?? '', probe: rest[2] ?? '', b });
      }
    }
  }

  summary(q: SummaryQuery): SummaryGroup[] {
    if (q.groupBy === 'region' && !q.target && !q.region && !q.probe)
      return finish(new Map(this.regions.get(q.window) ?? []));
    const acc = new Map<string, Bucket>();
    for (const s of this.series.get(q.window) ?? []) {
      if (
        (q.target && s.target !== q.target) ||
        (q.region && s.region !== q.region) ||
        (q.probe && s.probe !== q.probe)
      )
        continue;
      const key = q.groupBy === 'target' ? s.target : q.groupBy === 'probe' ? s.probe : s.region;
      let into = acc.get(key);
      if (!into) {
        into = emptyBucket(0);
        acc.set(key, into);
      }
      mergeInto(into, s.b);
    }
    return finish(acc);
  }
}

/** Every partition's buckets merged by key (sketches merge, counts add). */
function mergeParts(parts: Map<string, Part[]>): Map<string, Bucket> {
  const acc = new Map<string, Bucket>();
  for (const chunks of parts.values())
    for (const c of chunks)
      for (const [key, w] of c.items) {
        let into = acc.get(key);
        if (!into) {
          into = emptyBucket(0);
          acc.set(key, into);
        }
        mergeInto(into, bucketIn(WireBucket.parse(w)));
      }
  return acc;
}
