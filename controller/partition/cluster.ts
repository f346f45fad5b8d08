import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Ajv } from 'ajv';
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
import type { EvaluateInput } from '../alerting/evaluate.js';
import { Rule } from '../alerting/schema.js';
import type { TargetSample } from '../alerting/types.js';
import { BEHIND_DUTY } from '../ingest.js';
import type { ReportLine } from '../latest.js';
import { WorkCredit } from '../work-credit.js';
import { evaluateHere, type WireSample } from './evaluate.js';
import { isNumberedPartition, partitionOf } from './hash.js';
import type { PartitionLeases } from './leases.js';
import type { PartitionOwner, PartitionState } from './owner.js';
import { bucketIn, bucketOut, WireBucket } from './wire.js';

/** A reply message stays under this (NATS refuses payloads over max_payload, 1 MiB by default). */
const CHUNK_BYTES = 512 * 1024;
/**
 * A merged summary is reused this long before a request starts its refresh, and a replica's own part of
 * one is reused this long (the single controller's summary cache is 1 s too): a dashboard polling from
 * several places costs the replicas one computation a second per shape, not one per request. Refreshing
 * from half this age on (answers never served past 1 s) made twice the refreshes, and at 3 replicas their
 * decoding and serialising were what slow requests waited behind (bench:scale).
 */
const SUMMARY_CACHE_MS = 1000;
/**
 * While a refresh is on its way, a whole answer up to this old is still served (stale-while-revalidate,
 * as the single controller's cache does without a bound): a refresh waits for every replica's event loop,
 * and at 3 replicas the requests that waited for one made the p99 (bench:scale). Past this, the request
 * waits for the refresh, and a replica that stopped answering shows up as `partial` within this long.
 */
const SUMMARY_STALE_MS = 3000;
/** An evaluate request (it names the pass's targets) stays under this: NATS refuses it over max_payload. */
const REQUEST_BYTES = 512 * 1024;
/** An alerting pass may take a few deadlines: each replica evaluates its share of the targets. */
const EVALUATE_DEADLINES = 4;
/**
 * A replica's share of a query runs in turns of about this long (ms), the event loop let go in between:
 * what an API request on this replica may wait behind. Counted in targets, a turn of alert evaluation
 * (8 targets x 100 regions) ran up to ~170 ms under GC, and a summary's parts (one partition's
 * `groupBy=target` over an hour, five partitions a replica) ~80 ms without a break (bench:scale profiles).
 */
const TURN_MS = 10;
/**
 * CPU a replica gives one alerting pass (ms). What does not fit is deferred: the lease holder evaluates
 * it first thing next pass, as a single controller does with its own work credit — so evaluating a large
 * fleet never starves ingest, it spreads over a few passes.
 */
const EVALUATE_BUDGET_MS = 100;
/** Share of this replica's event loop alerting passes may take on average (the single controller's too). */
const EVALUATE_DUTY = 0.1;

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
    /** Computed now, and not kept: an answer no API client asked for must not be served to one later. */
    fresh: z.boolean().optional(),
    /** Accumulators even where a partition could send finished groups (they are merged with others). */
    buckets: z.boolean().optional(),
    /**
     * Accumulators as one part for all of a replica's partitions (merged there), not one a partition: at 16
     * partitions a region summary was 1600 accumulators with their sketch bins to decode, check and merge
     * on every refresh. Asked for, not assumed, so a replica that does not know it answers per partition.
     */
    merge: z.boolean().optional(),
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
  z.object({
    kind: z.literal('evaluate'),
    /** The enabled series rules (JSON of Rule: parsed again by each replica). */
    rules: z.array(z.unknown()).max(10_000),
    targets: z.array(z.string()).max(1_000_000),
    /** Targets with a fresh problem report: evaluated whatever the budget (time to detect). */
    hot: z.array(z.string()).max(100_000).optional(),
    /** Windows whose per-region report and probe-error totals the inhibit stage needs. */
    totals: z.array(Window).max(3),
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
  /** Items are finished summary groups (one partition holds all of a target's series), not buckets. */
  fin: z.boolean().optional(),
  /**
   * A merged part (Query `merge`): the partitions whose accumulators it adds up, with the lease revision
   * each is held at; `p` then only names the part.
   */
  cover: z
    .array(z.tuple([z.string(), z.number()]))
    .min(1)
    .optional(),
});
type Part = z.infer<typeof Part>;

/** A sample on the wire (WireSample), checked: a peer's reply is network input. */
const WireSampleIn = z.tuple([
  z.string(),
  z.string(),
  z.number(),
  z.array(
    z.object({
      region: z.string(),
      value: z.number().nullable(),
      breaching: z.boolean(),
      counted: z.boolean(),
      reports: z.number(),
      probeErrors: z.number(),
      inhibited: z.string().optional(),
    }),
  ),
]);
/** A finished summary group (SummaryGroup): the fields the API and the merge read, the rest passed on. */
const GroupIn = z.looseObject({
  key: z.string(),
  count: z.number(),
  outcomes: z.object({ ok: z.number(), degraded: z.number(), failed: z.number(), 'probe-error': z.number() }),
  errors: z.object({ http: z.number(), network: z.number(), player: z.number(), conformance: z.number() }),
  metrics: z.record(z.string(), z.unknown()),
  findings: z.record(z.string(), z.number()),
});
const LinesIn = z.array(z.looseObject({ id: z.string(), at: z.string(), outcome: z.string() }));
const StepsIn = z.array(WireBucket.nullable());
const TotalsIn = z.tuple([z.number(), z.number()]);

const ajv = new Ajv({ strict: false, strictNumbers: true, allErrors: false });
/**
 * A schema's check compiled from the zod schema itself (ajv), with zod's verdict where ajv refuses: a
 * summary reply holds up to thousands of groups or accumulators, and zod per item was a tenth of a
 * replica's time while summaries were polled (bench:scale profile). Only a check: items are not changed.
 */
function compiledCheck(schema: z.ZodType): (v: unknown) => boolean {
  const check = ajv.compile(z.toJSONSchema(schema, { io: 'input', target: 'draft-7' }));
  return (v) => check(v) || schema.safeParse(v).success;
}
const groupValid = compiledCheck(GroupIn);
const bucketValid = compiledCheck(WireBucket);

/** Whether one item of a reply to `kind` has the shape its reader expects (then read without a check). */
function itemValid(kind: Query['kind'], fin: boolean | undefined, key: string, v: unknown): boolean {
  switch (kind) {
    case 'summary':
      return fin ? groupValid(v) : bucketValid(v);
    case 'alerting':
      return bucketValid(v);
    case 'timeline':
      return StepsIn.safeParse(v).success;
    case 'latest':
      return LinesIn.safeParse(v).success;
    case 'evaluate':
      if (key === 'T' || key === 'D') return typeof v === 'string';
      if (key === 'S') return WireSampleIn.safeParse(v).success;
      return key.split('\u0000').length === 3 && TotalsIn.safeParse(v).success;
  }
}

/**
 * Whether a summary query's partitions may answer with finished groups (groupBy=target: a numbered
 * partition holds all of a target's series); those are never merged into one part.
 */
const finishable = (q: Extract<Query, { kind: 'summary' }>) =>
  !q.by && !q.buckets && q.q.groupBy === 'target';

/** A sample evaluated elsewhere, for the rest of the pipeline here (evidence is added by the asker). */
function sampleIn([, target, threshold, regions]: WireSample, rule: Rule): TargetSample {
  return { rule, target, threshold, regions: regions.map((r) => ({ ...r, sampleReports: [] })) };
}

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
  /** N of controller.partitions: the numbered partition of a target (controller/partition/hash.ts). */
  count: number;
  /** A target's expectations (rule thresholds), for the alerting evaluation this replica does. */
  expectations?: EvaluateInput['expectations'];
  /** This replica's partitions are catching up: evaluation gets BEHIND_DUTY instead of EVALUATE_DUTY. */
  behind?: () => boolean;
}

/** What an alerting pass gets from the cluster: samples that may alert, and whole-region totals. */
export interface EvaluatedAlerts {
  samples: TargetSample[];
  /** Targets a replica had no time for this pass: not evaluated (evaluate them first next pass). */
  deferred: string[];
  totals: Map<WindowName, Map<string, { reports: number; probeErrors: number }>>;
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
        void this.answer(q, reply).catch((e) => this.opts.logger.error({ err: e }, 'cluster query failed'));
      },
    });
  }

  /**
   * This replica's parts of an answer: its owned, complete partitions only, one partition at a time with
   * the event loop free in between (an alerting pass evaluates thousands of targets per partition).
   */
  private async answer(q: Query, reply: string): Promise<void> {
    const owned = this.opts.leases.owned();
    const rules = q.kind === 'evaluate' ? Rule.array().parse(q.rules) : [];
    // Reserved up front and what is left given back at the end: two passes answered at once (a slow one
    // and the next) share the credit instead of both spending all of it.
    const budget = { left: 0 };
    if (q.kind === 'evaluate') {
      budget.left = Math.max(0, this.credit.available);
      this.credit.spend(budget.left);
    }
    try {
      if (q.kind === 'summary' && q.merge && !finishable(q)) {
        for (const msg of await this.encodedMerged(owned, q)) this.opts.nc.publish(reply, msg);
        return;
      }
      let first = true;
      // Evaluation and alerting windows are long (thousands of targets a partition): the event loop is let
      // go between partitions. Summary parts are mostly short (and reused for 1 s): the loop is let go
      // after TURN_MS only, since each break puts the answer behind a socket read of ingest, and a fresh
      // merged summary waits for the slowest replica's answer.
      const yieldAlways = q.kind === 'evaluate' || q.kind === 'alerting';
      let turn = performance.now();
      for (const { partition, revision } of owned) {
        if (!first && (yieldAlways || performance.now() - turn >= TURN_MS)) {
          await new Promise((r) => setImmediate(r));
          turn = performance.now();
        }
        first = false;
        const state = this.opts.owner.states.get(partition);
        if (!state) continue;
        if (q.kind === 'evaluate') {
          const items = await this.evaluateSliced(state, q, rules, budget);
          // Given up while it was being evaluated: the new owner answers for it.
          if (this.opts.owner.states.get(partition) !== state) continue;
          for (const msg of chunk(this.opts.replicaId, partition, revision, items))
            this.opts.nc.publish(reply, msg);
          continue;
        }
        for (const msg of this.encoded(state, revision, q)) this.opts.nc.publish(reply, msg);
      }
    } finally {
      // Overspent (a slice runs to its end): the next passes pay for it.
      this.credit.refund(budget.left);
    }
  }

  private readonly served = new Map<string, { at: number; msgs: Uint8Array[] }>();
  /**
   * Spent by evaluation passes: however often the lease holder asks (a pass a second, one per problem
   * report), evaluation takes at most EVALUATE_DUTY of this replica (BEHIND_DUTY while it catches up).
   */
  private readonly credit = new WorkCredit(EVALUATE_BUDGET_MS, () =>
    this.opts.behind?.() ? BEHIND_DUTY : EVALUATE_DUTY,
  );

  /** A partition's encoded answer; summaries reused for SUMMARY_CACHE_MS (they are polled). */
  private encoded(state: PartitionState, revision: number, q: Query): Uint8Array[] {
    const p = state.spec.id;
    const key = q.kind === 'summary' && !q.fresh ? `${p}|${revision}|${JSON.stringify(q)}` : undefined;
    const now = Date.now();
    const hit = key ? this.served.get(key) : undefined;
    if (hit && now - hit.at < SUMMARY_CACHE_MS) return hit.msgs;
    const { items, times, fin } = this.local(state, q);
    const msgs = chunk(this.opts.replicaId, p, revision, items, times, fin);
    if (key) this.remember(key, now, msgs);
    return msgs;
  }

  /**
   * One part for all of this replica's complete partitions (a `merge` summary): their accumulators added
   * up here, in turns of TURN_MS (the board's per-cell answer reads every series), reused for
   * SUMMARY_CACHE_MS like a partition's. Nothing when it holds none. A partition handed over meanwhile is
   * still covered at the revision it was read at: its new owner's newer answer makes the asker ask again.
   */
  private async encodedMerged(
    owned: { partition: string; revision: number }[],
    q: Extract<Query, { kind: 'summary' }>,
  ): Promise<Uint8Array[]> {
    const held = owned.flatMap(({ partition, revision }) => {
      const state = this.opts.owner.states.get(partition);
      return state ? [{ state, cover: [partition, revision] as [string, number] }] : [];
    });
    if (!held.length) return [];
    const cover = held.map((h) => h.cover);
    const key = q.fresh ? undefined : `*|${JSON.stringify(cover)}|${JSON.stringify(q)}`;
    const now = Date.now();
    const hit = key ? this.served.get(key) : undefined;
    if (hit && now - hit.at < SUMMARY_CACHE_MS) return hit.msgs;
    const acc = new Map<string, Bucket>();
    let turn = performance.now();
    for (const { state } of held) {
      if (performance.now() - turn >= TURN_MS) {
        await new Promise((r) => setImmediate(r));
        turn = performance.now();
      }
      state.aggregator.partial(q.q as SummaryQuery, q.by, acc);
    }
    const items: [string, unknown][] = [];
    for (const [k, b] of acc) items.push([k, bucketOut(b)]);
    const msgs = chunk(this.opts.replicaId, `*${this.opts.replicaId}`, 0, items, undefined, undefined, cover);
    if (key) this.remember(key, now, msgs);
    return msgs;
  }

  private remember(key: string, now: number, msgs: Uint8Array[]): void {
    if (this.served.size > 500)
      for (const [k, v] of this.served) if (now - v.at >= SUMMARY_CACHE_MS) this.served.delete(k);
    this.served.set(key, { at: now, msgs });
  }

  /**
   * A partition's share of an alerting pass: the rules for the pass's targets it holds, a slice of targets
   * at a time with the event loop free in between (ingest and other queries go on during a full pass).
   */
  private async evaluateSliced(
    state: PartitionState,
    q: Extract<Query, { kind: 'evaluate' }>,
    rules: Rule[],
    budget: { left: number },
  ): Promise<[string, unknown][]> {
    const numbered = this.numbered(state);
    const n = Number(state.spec.id);
    // A numbered partition holds its targets by the hash; an unmapped or legacy one only the targets that
    // reported there (every target would have it evaluate, or defer, the whole fleet each pass).
    const mine = numbered
      ? (t: string) => partitionOf(t, this.opts.count) === n
      : (t: string) => state.aggregator.hasTarget(t);
    const hot = new Set((q.hot ?? []).filter(mine));
    const targets = [...hot, ...q.targets.filter((t) => mine(t) && !hot.has(t))];
    const seen = numbered ? undefined : new Set<string>();
    const items: [string, unknown][] = [];
    // A target at a time, the event loop let go every TURN_MS (a 100-region target takes a few ms).
    let turn = performance.now();
    for (let i = 0; i < targets.length; i++) {
      if (budget.left <= 0 && i >= hot.size) {
        // Out of budget: named, not evaluated (the lease holder neither resolves nor fires them now).
        for (const t of targets.slice(i)) items.push(['D', t]);
        break;
      }
      if (performance.now() - turn >= TURN_MS) {
        await new Promise((r) => setImmediate(r));
        turn = performance.now();
      }
      const t0 = performance.now();
      for (const s of evaluateHere(
        state.aggregator,
        rules,
        new Set([targets[i] as string]),
        this.opts.expectations ?? (() => undefined),
        seen,
      ))
        items.push(['S', s]);
      budget.left -= performance.now() - t0;
    }
    // Targets with reports in an unmapped partition may have series in a numbered one too: the asker
    // evaluates those from merged windows instead.
    for (const t of seen ?? []) items.push(['T', t]);
    for (const window of q.totals)
      for (const [region, counts] of state.aggregator.regionCounts(window))
        items.push([`W\u0000${window}\u0000${region}`, counts]);
    return items;
  }

  /** Whether every series of a target lives in this partition (numbered partitions: by the hash). */
  private numbered(state: PartitionState): boolean {
    return isNumberedPartition(state.spec.id);
  }

  private local(
    state: PartitionState,
    q: Query,
  ): { items: [string, unknown][]; times?: number[]; fin?: boolean } {
    switch (q.kind) {
      case 'summary': {
        if (finishable(q) && this.numbered(state)) {
          // A target's groups are whole here: finish them (a few hundred bytes each, no sketch bins).
          const groups = state.aggregator.summary(q.q as SummaryQuery);
          return { items: groups.map((g) => [g.key, g]), fin: true };
        }
        const acc = state.aggregator.partial(q.q as SummaryQuery, q.by);
        return { items: [...acc].map(([k, b]) => [k, bucketOut(b)]) };
      }
      case 'evaluate':
        // Answered by evaluateSliced (asynchronous); never reached.
        return { items: [] };
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

  /**
   * Scatter a query, gather every partition's answer (or the deadline), newest owner per partition. An
   * answer is one partition's or, for a `merge` summary, a replica's covering several; `parts` holds the
   * answers used, by answer. A merged answer that cannot be used whole (during a hand-over another replica
   * answered one of its partitions at a newer revision, or it covers a partition this replica does not
   * know) is not split up: the query is asked again, one part a partition.
   */
  private async gather(
    q: Query,
    deadlineMs = this.opts.deadlineMs,
  ): Promise<{ parts: Map<string, Part[]>; missing: string[] }> {
    this.stats.queries++;
    const want = new Set(this.opts.partitions);
    const answers = new Map<string, { cover: [string, number][]; chunks: Map<number, Part>; n: number }>();
    /** Per partition, the newest complete answer covering it. */
    const newest = new Map<string, { rev: number; key: string }>();
    let unusable = false;
    const iter = await this.opts.nc.requestMany(this.opts.subject, encodeJson(q), {
      maxWait: deadlineMs,
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
        const cover = part.cover ?? [[part.p, part.rev]];
        if (!part.cover && !want.has(part.p)) continue;
        // A malformed reply counts as no reply: its partitions are missing (partial), nothing throws later.
        if (!part.items.every(([key, v]) => itemValid(q.kind, part.fin, key, v))) {
          this.opts.logger.warn(
            { replica: part.replica, p: part.p, kind: q.kind },
            'malformed cluster reply; ignored',
          );
          continue;
        }
        const key = `${part.replica}\u0000${part.p}\u0000${part.rev}`;
        let a = answers.get(key);
        if (!a) {
          a = { cover, chunks: new Map(), n: part.n };
          answers.set(key, a);
        }
        a.chunks.set(part.i, part);
        if (a.chunks.size !== a.n) continue;
        for (const [p, rev] of a.cover) {
          if (!want.has(p)) unusable = true;
          const had = newest.get(p);
          if (!had || rev > had.rev) newest.set(p, { rev, key });
        }
        if (unusable) break;
        // Whole once every partition has a complete answer and no newer owner's answer is still arriving
        // (chunk by chunk, during a hand-over): then the newer one is waited for, up to the deadline.
        const arriving = [...answers.values()].some(
          (o) => o.chunks.size < o.n && o.cover.some(([p, rev]) => rev > (newest.get(p)?.rev ?? -1)),
        );
        if (!arriving && [...want].every((p) => newest.has(p))) break;
      }
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'cluster query ended early');
    }
    // The answers used: each newest for every partition it covers.
    const used = new Set<string>();
    for (const { key } of newest.values()) used.add(key);
    for (const key of used) {
      const a = answers.get(key);
      if (a?.cover.some(([p]) => newest.get(p)?.key !== key)) unusable = true;
    }
    if (unusable && q.kind === 'summary' && q.merge) {
      this.opts.logger.info({ kind: q.kind }, 'merged cluster answers overlap; asking per partition');
      return this.gather({ ...q, merge: false }, deadlineMs);
    }
    const parts = new Map<string, Part[]>();
    const covered = new Set<string>();
    for (const key of used) {
      const a = answers.get(key);
      if (!a || a.cover.some(([p]) => newest.get(p)?.key !== key)) continue;
      parts.set(key, [...a.chunks.values()]);
      for (const [p] of a.cover) covered.add(p);
    }
    const missing = [...want].filter((p) => !covered.has(p));
    if (missing.length) this.stats.partial++;
    return { parts, missing };
  }

  /** The partitions an answer covers (one, or a merged answer's). */
  private static covers(chunks: Part[]): string[] {
    const first = chunks[0];
    return first?.cover ? first.cover.map(([p]) => p) : first ? [first.p] : [];
  }

  /** Accumulators of a summary over the whole fleet (by group key, or by cell / series). */
  async summaryBuckets(q: SummaryQuery, by?: 'cell' | 'series'): Promise<Merged<Map<string, Bucket>>> {
    const { parts, missing } = await this.gather({ kind: 'summary', q, by, buckets: true, merge: true });
    // Finished groups cannot be merged as accumulators (a replica that does not know `buckets` sends
    // them): that partition counts as not answered, never as merged wrong.
    for (const [key, chunks] of parts)
      if (chunks.some((c) => c.fin)) {
        parts.delete(key);
        missing.push(...Cluster.covers(chunks));
      }
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

  private readonly summaries = new Map<
    string,
    { at: number; value?: Merged<SummaryGroup[]>; refreshing?: Promise<Merged<SummaryGroup[]>> }
  >();

  /**
   * A fleet summary, as the API serves it: a whole answer is reused for SUMMARY_CACHE_MS, then refreshed in
   * the background, and served up to SUMMARY_STALE_MS old while a refresh is on its way,
   * so a polled shape is answered from memory; a partial answer is never reused (the next request asks
   * again).
   */
  async summary(q: SummaryQuery, opts: { fresh?: boolean } = {}): Promise<Merged<SummaryGroup[]>> {
    // Computed now for an internal reader (the alerting seed): neither served from nor kept in the caches,
    // whose answers an API client would otherwise get for up to a second after reports it already counts
    // in another shape (a seed taken while reports arrive was served as a whole fleet summary).
    if (opts.fresh) return this.summaryNow(q, true);
    const key = JSON.stringify([q.window, q.groupBy, q.target, q.region, q.probe]);
    const now = Date.now();
    let entry = this.summaries.get(key);
    const age = entry?.value ? now - entry.at : Number.POSITIVE_INFINITY;
    if (entry?.value && age < SUMMARY_CACHE_MS) return entry.value;
    if (!entry?.refreshing) {
      if (this.summaries.size > 1000) this.summaries.clear();
      // The answer's age runs from when the query was sent: its parts were computed after that, but it
      // arrives up to a deadline later, and stamping the arrival served it past SUMMARY_CACHE_MS.
      const askedAt = now;
      const refreshing = this.summaryNow(q).then(
        (value) => {
          if (value.missing.length) this.summaries.delete(key);
          else this.summaries.set(key, { at: askedAt, value });
          return value;
        },
        (err) => {
          this.summaries.delete(key);
          throw err;
        },
      );
      // A background refresh has no caller awaiting it when the cached answer was served: its failure is
      // logged here (an unobserved rejection would end the process); a caller that awaits it still gets it.
      refreshing.catch((err) =>
        this.opts.logger.warn({ err: (err as Error).message }, 'cluster summary refresh failed'),
      );
      entry = { at: entry?.at ?? 0, value: entry?.value, refreshing };
      this.summaries.set(key, entry);
    }
    if (entry.value && age < SUMMARY_STALE_MS) return entry.value;
    return entry.refreshing as Promise<Merged<SummaryGroup[]>>;
  }

  private async summaryNow(q: SummaryQuery, fresh = false): Promise<Merged<SummaryGroup[]>> {
    const { parts, missing } = await this.gather({
      kind: 'summary',
      q,
      merge: true,
      ...(fresh ? { fresh } : {}),
    });
    const groups = new Map<string, SummaryGroup>();
    const buckets = new Map<string, Part[]>();
    for (const [p, chunks] of parts) {
      if (!chunks.every((c) => c.fin)) {
        buckets.set(p, chunks);
        continue;
      }
      for (const c of chunks) for (const [key, g] of c.items) groups.set(key, g as SummaryGroup);
    }
    const rest = mergeParts(buckets);
    if ([...rest.keys()].some((k) => groups.has(k))) {
      // A target with reports in an unmapped partition and in its own: merge everything from buckets.
      const r = await this.summaryBuckets(q);
      return { value: finish(r.value), missing: r.missing };
    }
    for (const g of finish(rest)) groups.set(g.key, g);
    return {
      value: [...groups.values()].sort((a, b) => a.key.localeCompare(b.key)),
      missing,
    };
  }

  /**
   * Stage 1 of an alerting pass over the whole fleet: each replica evaluates the rules for the targets of
   * the pass its partitions hold, and sends back only the samples that may alert (plus whole-region totals
   * for the inhibit stage) — a full pass over 100k series travels as kilobytes, not as every series'
   * sketches. Targets with reports in an unmapped partition are evaluated here from merged windows.
   */
  async evaluateAlerts(
    rules: Rule[],
    targets: string[],
    totals: WindowName[],
    hot: string[] = [],
  ): Promise<Merged<EvaluatedAlerts>> {
    // A large fleet's targets go in several requests, one after the other (each replica's work credit
    // spans them); region totals are asked once.
    const hotSet = new Set(hot);
    const room = Math.max(64 * 1024, REQUEST_BYTES - Buffer.byteLength(JSON.stringify(rules)));
    const out: EvaluatedAlerts = { samples: [], deferred: [], totals: new Map() };
    let first = true;
    // Hot targets first: they are evaluated whatever the budget, in the first request.
    for (const batch of targetBatches([...new Set([...hot, ...targets])], room)) {
      const r = await this.evaluateBatch(
        rules,
        batch,
        first ? totals : [],
        batch.filter((t) => hotSet.has(t)),
      );
      if (r.missing.length) return r;
      out.samples.push(...r.value.samples);
      out.deferred.push(...r.value.deferred);
      if (first) out.totals = r.value.totals;
      first = false;
    }
    return { value: out, missing: [] };
  }

  private async evaluateBatch(
    rules: Rule[],
    targets: string[],
    totals: WindowName[],
    hot: string[],
  ): Promise<Merged<EvaluatedAlerts>> {
    const { parts, missing } = await this.gather(
      { kind: 'evaluate', rules, targets, totals, ...(hot.length ? { hot } : {}) },
      this.opts.deadlineMs * EVALUATE_DEADLINES,
    );
    const byId = new Map(rules.map((r) => [r.id, r]));
    const samples: TargetSample[] = [];
    const split = new Set<string>();
    const out: EvaluatedAlerts = { samples, deferred: [], totals: new Map() };
    for (const chunks of parts.values())
      for (const c of chunks)
        for (const [key, v] of c.items) {
          if (key === 'T') split.add(v as string);
          else if (key === 'D') out.deferred.push(v as string);
          else if (key === 'S') {
            const rule = byId.get((v as WireSample)[0]);
            if (rule) samples.push(sampleIn(v as WireSample, rule));
          } else {
            const [, window, region] = key.split('\u0000') as [string, WindowName, string];
            const [reports, probeErrors] = v as [number, number];
            let m = out.totals.get(window);
            if (!m) {
              m = new Map();
              out.totals.set(window, m);
            }
            const t = m.get(region) ?? { reports: 0, probeErrors: 0 };
            m.set(region, { reports: t.reports + reports, probeErrors: t.probeErrors + probeErrors });
          }
        }
    if (split.size && !missing.length) {
      const windows = [...new Set(rules.map((r) => r.window))];
      const merged = await this.alertingWindows(windows, [...split]);
      if (merged.missing.length) return { value: out, missing: merged.missing };
      out.samples = samples.filter((s) => !split.has(s.target));
      for (const s of evaluateMerged(merged.value, rules, split, this.opts.expectations)) out.samples.push(s);
    }
    return { value: out, missing };
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
          const steps = raw as (WireBucket | null)[];
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

const utf8 = new TextEncoder();

/**
 * One partition's answer as messages of at most ~CHUNK_BYTES each (always at least one): each item is
 * serialised once and the messages are assembled from those strings (the same JSON as encodeJson(Part)).
 */
function chunk(
  replica: string,
  p: string,
  rev: number,
  items: [string, unknown][],
  times?: number[],
  fin?: boolean,
  cover?: [string, number][],
): Uint8Array[] {
  const groups: string[][] = [[]];
  let size = 0;
  for (const item of items) {
    const json = JSON.stringify(item);
    if (size + json.length > CHUNK_BYTES && (groups.at(-1) as string[]).length) {
      groups.push([]);
      size = 0;
    }
    (groups.at(-1) as string[]).push(json);
    size += json.length + 1;
  }
  const tail = `${times ? `,"times":${JSON.stringify(times)}` : ''}${fin ? ',"fin":true' : ''}${cover ? `,"cover":${JSON.stringify(cover)}` : ''}}`;
  return groups.map((g, i) =>
    utf8.encode(
      `{"replica":${JSON.stringify(replica)},"p":${JSON.stringify(p)},"rev":${rev},"i":${i},"n":${groups.length},"items":[${g.join(',')}]${tail}`,
    ),
  );
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

/**
 * Targets in groups whose JSON (`"id",` each) stays under maxBytes (always at least one group, a target
 * over the limit alone in one).
 */
export function targetBatches(targets: string[], maxBytes: number): string[][] {
  const out: string[][] = [[]];
  let bytes = 0;
  for (const t of targets) {
    const size = Buffer.byteLength(t) + 3;
    if (bytes + size > maxBytes && (out.at(-1) as string[]).length) {
      out.push([]);
      bytes = 0;
    }
    (out.at(-1) as string[]).push(t);
    bytes += size;
  }
  return out;
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
        // Checked on arrival (gather).
        mergeInto(into, bucketIn(w as WireBucket));
      }
  return acc;
}

/** Split targets (see evaluateAlerts): evaluated from windows merged across partitions. */
function evaluateMerged(
  windows: MergedWindows,
  rules: Rule[],
  targets: ReadonlySet<string>,
  expectations: EvaluateInput['expectations'] = () => undefined,
): TargetSample[] {
  const out: TargetSample[] = [];
  for (const s of evaluateHere(windows, rules, targets, expectations)) {
    const rule = rules.find((r) => r.id === s[0]);
    if (rule) out.push(sampleIn(s, rule));
  }
  return out;
}
