/**
 * The alerting service: rules, silences and alert state in JetStream KV, and the pipeline
 *
 *   evaluate -> inhibit -> quorum -> state -> silence -> group/dedup -> notify
 *
 * run every evaluation_interval (and at once for the target of a report that shows a problem) on the
 * replica holding the `alerting` lease. Other replicas keep current copies (KV watches) to serve the API.
 */
import { randomBytes } from 'node:crypto';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import type { ReportCore } from '../../shared/report-core.js';
import type { Names } from '../../shared/subjects.js';
import { type Aggregator, BUCKET_MS, WINDOWS, type WindowName } from '../aggregate/aggregator.js';
import type { EventBus } from '../events.js';
import type { Fleet } from '../fleet.js';
import { BEHIND_DUTY } from '../ingest.js';
import type { Cluster, EvaluatedAlerts } from '../partition/cluster.js';
import { Lease } from '../scheduler/lease.js';
import { KvCollection } from '../state/kvcollection.js';
import type { TargetStore } from '../state/targets.js';
import { WorkCredit } from '../work-credit.js';
import {
  type AlertingFile,
  EMPTY_RULES_FILE,
  type LoadedRulesFile,
  loadRulesFile,
  type Receiver,
  shippedRulesFile,
} from './config.js';
import { evaluate, readRows } from './evaluate.js';
import { isProblem, RecentReports } from './evidence.js';
import { Presence, ReportFeed } from './feed.js';
import { type AgentFact, evaluateFleet } from './fleet-rules.js';
import { plan } from './group.js';
import { inhibit } from './inhibit.js';
import type { Fetch } from './notifiers/http.js';
import { notifierFor } from './notifiers/index.js';
import { Dispatcher } from './notify.js';
import { NotificationLog } from './notify-log.js';
import { quorum } from './quorum.js';
import {
  Alert,
  type AlertView,
  durationMs,
  Rule,
  type RuleInput,
  Silence,
  type SilenceRequest,
  type SilenceView,
} from './schema.js';
import { silencedBy, silenceStatus } from './silence.js';
import { advance } from './state.js';
import type { Candidate, TargetSample } from './types.js';

/** Before the first merged snapshot: nothing is evaluated from it (the pass returns before reading). */
const EMPTY_WINDOWS: Pick<Aggregator, 'summary'> = { summary: () => [] };

/** An alert episode as kept in history: id = <fingerprint>_<fired at, epoch ms>. */
export const HistoryEntry = Alert.extend({ fingerprint: z.string() });
export type HistoryEntry = z.infer<typeof HistoryEntry>;

/** Payload of the EventBus `alert` event (and the SSE feed). */
export interface AlertEvent {
  /** The state the alert entered. */
  transition: Alert['state'];
  alert: Alert;
}

export interface AlertingOptions {
  kvm: Kvm;
  prefix: string;
  replicas: number;
  /** The TTL'd leases bucket (the scheduler's); the alerting lease is the key `alerting`. */
  leases: KV;
  holder: string;
  aggregator: Aggregator;
  fleet: Pick<Fleet, 'list'>;
  targets: TargetStore;
  events: EventBus;
  logger: Logger;
  /** Rules file path; undefined = the shipped deploy/rules.yaml; "none" = no file. */
  rulesFile?: string;
  /** Parsed rules file instead of a path (tests). */
  rules?: LoadedRulesFile;
  /** The controller's URL for links in notifications. */
  externalUrl?: () => string | undefined;
  fetch?: Fetch;
  /** The results stream, followed in full when other replicas share the ingest (alerting/feed.ts). */
  stream?: { js: JetStreamClient; jsm: JetStreamManager; names: Names };
  /**
   * Partitioned ingest (controller/partition/): the lease holder evaluates fleet-wide windows merged from
   * every replica's partitions instead of reading the results stream a second time.
   */
  cluster?: Pick<Cluster, 'evaluateAlerts' | 'summary'>;
  /**
   * This replica's ingest is catching up (controller/ingest.ts BEHIND_REPORTS): evaluation then takes
   * BEHIND_DUTY of the event loop, not MAX_DUTY, so the backlog drains first.
   */
  ingestBehind?: () => boolean;
}

const PERSIST_EVERY_MS = 15_000;
const HISTORY_MAX_AGE_MS = 7 * 86_400_000;
/** Evaluation may use at most this share of the event loop; on a large fleet it lags instead. */
const MAX_DUTY = 0.1;
/** Work credit (ms) that may build up while idle: a problem after a quiet spell is evaluated at once. */
const BURST_MS = 250;
/**
 * Passes for fresh problem reports (fast passes) have a credit of their own, so a problem never waits for
 * the routine passes' debt: at 100k series a routine pass overran its budget by a slice (8 targets x 100
 * regions, up to ~370 ms under GC), and the next problem waited seconds for MAX_DUTY to repay it
 * (bench:scale, time to detect). A fast pass evaluates only the problem targets (~4 ms each there), so
 * this rarely binds; a flood of problems is held to FAST_DUTY on top of MAX_DUTY.
 */
const FAST_DUTY = 0.05;
const FAST_BURST_MS = 100;
/** A routine pass cut short for a problem waits this long, so the problem's fast pass goes first. */
const FAST_FIRST_MS = 20;
/** Targets evaluated between two yields to the event loop. */
const SLICE = 8;
/** Up to this many targets with new (healthy) reports are evaluated every tick; more wait for a full pass. */
const MAX_DIRTY = 32;
/** Every target is re-evaluated this often even without new reports: the windows' bucket step. */
const FULL_EVERY_MS = BUCKET_MS;

const iso = (ms: number) => new Date(ms).toISOString();

/** A routine pass's stage 1, answered by the replicas before the pass queued (Alerting.tick). */
interface Staged {
  /** Its place in the order remote evaluations were asked for. */
  seq: number;
  scope: string[];
  /** What may alert, per target (targets without an entry evaluated to nothing). */
  pre: Map<string, TargetSample[]>;
}

export class Alerting {
  readonly rules: KvCollection<typeof Rule>;
  readonly silences: KvCollection<typeof Silence>;
  private readonly alerts: KvCollection<typeof Alert>;
  private readonly history: KvCollection<typeof HistoryEntry>;
  readonly log: NotificationLog;
  private readonly lease: Lease;
  private readonly dispatcher: Dispatcher;
  private readonly recent = new RecentReports();
  private settings: AlertingFile = EMPTY_RULES_FILE;
  private receivers = new Map<string, Receiver>();
  /** The lease holder's working copy of every alert (KV holds transitions and a 15 s-fresh copy). */
  private live: Map<string, Alert> | undefined;
  private readonly persistedAt = new Map<string, number>();
  private readonly groupClock = new Map<string, number>();
  private readonly emitted = new Map<string, Alert['state']>();
  /** Targets with reports since their last evaluation, and those whose reports show a problem. */
  private readonly dirty = new Set<string>();
  private readonly urgent = new Set<string>();
  /** Targets with data, last report time (bounded: an hour without reports drops a target). */
  private readonly known = new Map<string, number>();
  private nextFullAt = 0;
  /** The last routine pass stopped early for a fresh problem: the next one comes as soon as credit allows. */
  private cutShort = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private fastTimer: NodeJS.Timeout | undefined;
  private evictTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private lastBusyMs = 0;
  /** Evaluation work (ms) the routine passes may spend: MAX_DUTY (BEHIND_DUTY while ingest catches up). */
  private readonly credit = new WorkCredit(BURST_MS, () =>
    this.opts.ingestBehind?.() ? BEHIND_DUTY : MAX_DUTY,
  );
  /** The fast passes' own. */
  private readonly fastCredit = new WorkCredit(FAST_BURST_MS, FAST_DUTY);
  private stopped = false;
  private presence: Presence | undefined;
  private feed: ReportFeed | undefined;
  private readonly onReport = (r: ReportCore) => this.observe(r);

  /** Counters for tests and /metrics. */
  readonly stats = {
    runs: 0,
    fastRuns: 0,
    lastRunMs: 0,
    lastScope: 0,
    notificationsSent: 0,
    notificationsFailed: 0,
    /** Passes skipped because some partitions did not answer (partitioned ingest). */
    partialSkips: 0,
  };
  /** The fleet-wide windows of the current pass (partitioned ingest). */
  private merged: Pick<Aggregator, 'summary'> | undefined;
  /** Targets with a fresh problem report: evaluated first (partitioned: whatever the replicas' budget). */
  private readonly hot = new Set<string>();
  /** Partitioned: whole-region totals of the current pass, from the cluster (inhibit stage). */
  private clusterTotals: EvaluatedAlerts['totals'] | undefined;
  private clusterTotalsAt = 0;
  /**
   * Partitioned: remote evaluations in the order they were asked for, and per target the latest one whose
   * answer was applied. A routine pass asks the replicas before it queues (tick), so its answer may come
   * back after a fast pass asked later and applied a newer one: for those targets the older answer is
   * dropped, or it would resolve what the newer pass just found firing.
   */
  private askSeq = 0;
  private readonly appliedSeq = new Map<string, number>();

  /** Notifications delivered / given up on per receiver (this replica's, since start), for /metrics. */
  readonly notificationCounts = new Map<string, { sent: number; failed: number }>();

  private countNotification(receiver: string, key: 'sent' | 'failed'): void {
    const c = this.notificationCounts.get(receiver) ?? { sent: 0, failed: 0 };
    c[key]++;
    this.notificationCounts.set(receiver, c);
  }

  /** Active (pending, firing) alerts counted by rule, severity and state, for /metrics. */
  alertCounts(): { rule: string; severity: string; state: string; count: number }[] {
    const counts = new Map<string, { rule: string; severity: string; state: string; count: number }>();
    for (const a of this.listAlerts()) {
      const severity = a.labels.severity ?? '';
      const key = `${a.rule}\u0000${severity}\u0000${a.state}`;
      const c = counts.get(key) ?? { rule: a.rule, severity, state: a.state, count: 0 };
      c.count++;
      counts.set(key, c);
    }
    return [...counts.values()];
  }

  private constructor(
    private readonly opts: AlertingOptions,
    buckets: { rules: KV; silences: KV; alerts: KV; history: KV; nlog: KV },
  ) {
    const { logger } = opts;
    this.rules = new KvCollection(buckets.rules, Rule, logger);
    this.silences = new KvCollection(buckets.silences, Silence, logger);
    this.alerts = new KvCollection(buckets.alerts, Alert, logger);
    this.history = new KvCollection(buckets.history, HistoryEntry, logger);
    this.log = new NotificationLog(buckets.nlog, logger, () => this.reclaimAfterMs());
    this.lease = new Lease({ kv: opts.leases, key: 'alerting', holder: opts.holder, everyMs: 1000, logger });
    this.dispatcher = new Dispatcher({
      log: this.log,
      logger: logger.child({ component: 'notify' }),
      holder: opts.holder,
      fetch: opts.fetch,
      externalUrl: opts.externalUrl,
      onSent: (n) => {
        this.stats.notificationsSent++;
        this.countNotification(n.receiver.name, 'sent');
      },
      onFailed: (n) => {
        this.stats.notificationsFailed++;
        this.countNotification(n.receiver.name, 'failed');
      },
    });
  }

  /** The receivers of the alerting file that are in use (GET /v1/receivers). */
  receiverViews(): { name: string; kind: string }[] {
    return [...this.receivers.values()].map((r) => ({ name: r.name, kind: r.kind }));
  }

  /**
   * Sends one synthetic firing alert through a receiver now (POST /v1/receivers/:name/test), outside grouping
   * and the notification log: an operator checks the wiring before the event. undefined: no such receiver.
   */
  async testReceiver(name: string): Promise<{ ok: boolean; message?: string } | undefined> {
    const r = this.receivers.get(name);
    if (!r) return undefined;
    const now = new Date().toISOString();
    const labels = { alertname: 'liveprobe-receiver-test', severity: 'info' };
    try {
      await notifierFor(r).send(
        r,
        {
          receiver: r.name,
          group_key: `test:${r.name}`,
          group_labels: labels,
          status: 'firing',
          alerts: [
            {
              fingerprint: `test-${randomBytes(4).toString('hex')}`,
              status: 'firing',
              repeat: false,
              labels,
              annotations: { summary: `Test notification from liveprobe through receiver ${r.name}` },
              starts_at: now,
              value: null,
              threshold: null,
              evidence: { regions: [] },
            },
          ],
        },
        {
          fetch: this.opts.fetch ?? fetch,
          signal: AbortSignal.timeout(durationMs(r.retry.timeout)),
          now: Date.now(),
          externalUrl: this.opts.externalUrl?.(),
        },
      );
      this.opts.logger.info({ receiver: r.name }, 'receiver test sent');
      return { ok: true };
    } catch (err) {
      this.opts.logger.warn({ receiver: r.name, err: (err as Error).message }, 'receiver test failed');
      return { ok: false, message: (err as Error).message };
    }
  }

  static async create(opts: AlertingOptions): Promise<Alerting> {
    const { kvm, prefix, replicas } = opts;
    const a = new Alerting(opts, {
      rules: await kvm.create(`${prefix}_rules`, { history: 5, replicas }),
      silences: await kvm.create(`${prefix}_silences`, { history: 5, replicas }),
      alerts: await kvm.create(`${prefix}_alerts`, { history: 1, replicas }),
      history: await kvm.create(`${prefix}_alert_history`, { history: 1, replicas, ttl: HISTORY_MAX_AGE_MS }),
      nlog: await kvm.create(`${prefix}_alert_nlog`, { history: 1, replicas, ttl: HISTORY_MAX_AGE_MS }),
    });
    return a;
  }

  get isLeader(): boolean {
    return this.lease.isHeld();
  }

  get receiverNames(): string[] {
    return [...this.receivers.keys()];
  }

  async start(): Promise<void> {
    const logger = this.opts.logger;
    const loaded = this.opts.rules ?? this.loadFile();
    this.settings = loaded.file;
    this.receivers = new Map(loaded.file.receivers.map((r) => [r.name, r]));
    if (loaded.disabled.length)
      logger.info(
        { disabled: loaded.disabled.map((d) => `${d.name} (${d.missing.join(', ')} unset)`) },
        'receivers disabled: their variables are unset',
      );
    logger.info(
      { receivers: loaded.file.receivers.map((r) => `${r.name}:${r.kind}`), rules: loaded.file.rules.length },
      'alerting configured',
    );
    await Promise.all([this.rules.start(), this.silences.start(), this.alerts.start(), this.history.start()]);
    await this.log.start();
    await this.seedRules(loaded.file.rules);
    this.alerts.onChange(() => this.emitChanges());
    for (const a of this.alerts.list()) this.emitted.set(a.id, a.state);
    // Partitioned, the replicas signal problem reports and active targets (controller/partition/signals.ts):
    // the lease holder never reads the whole fleet's reports.
    if (!this.opts.cluster) this.opts.events.on('ingested', this.onReport);
    if (this.opts.stream) {
      this.presence = new Presence(this.opts.leases, this.opts.holder, (peers) => {
        if (peers > 0 && !this.feed && !this.stopped) void this.startFeed();
      });
      this.presence.start();
    }
    this.lease.start();
    this.evictTimer = setInterval(() => {
      this.recent.evict(Date.now());
      for (const t of this.appliedSeq.keys()) if (!this.known.has(t)) this.appliedSeq.delete(t);
      for (const [k, at] of this.groupClock) if (Date.now() - at > 86_400_000) this.groupClock.delete(k);
      void this.purgeSilences().catch(() => undefined);
    }, 60_000);
    this.schedule(0);
  }

  /** Other replicas share the ingest: from now on follow the whole results stream (see feed.ts). */
  private async startFeed(): Promise<void> {
    const stream = this.opts.stream;
    if (!stream) return;
    const replayMs = Math.max(
      WINDOWS['1m'],
      ...this.rules.list().map((r) => (r.fleet ? 0 : WINDOWS[r.window])),
    );
    const feed = new ReportFeed({
      ...stream,
      logger: this.opts.logger,
      replayMs,
      onReport: (r) => this.observe(r),
    });
    this.feed = feed;
    this.opts.events.off('ingested', this.onReport);
    this.opts.logger.info(
      { replayMs },
      'other controller replicas present: alerting follows the whole results stream',
    );
    try {
      await feed.start();
    } catch (err) {
      this.opts.logger.error({ err }, "alerting feed failed; alerting from this replica's ingest only");
      this.feed = undefined;
      this.opts.events.on('ingested', this.onReport);
    }
  }

  /** The windows evaluated: the full feed once it caught up, else this replica's ingest windows. */
  private get windows(): Pick<Aggregator, 'summary'> {
    if (this.opts.cluster) return this.merged ?? EMPTY_WINDOWS;
    return this.localWindows;
  }

  /** Not partitioned: the full feed once it caught up, else this replica's ingest windows. */
  private get localWindows(): Aggregator {
    return this.feed?.ready ? this.feed.aggregator : this.opts.aggregator;
  }

  private loadFile(): LoadedRulesFile {
    const path = this.opts.rulesFile ?? shippedRulesFile();
    if (!path || path === 'none') {
      if (this.opts.rulesFile === undefined)
        this.opts.logger.warn('no rules file found; alerting starts without file rules');
      return { file: EMPTY_RULES_FILE, disabled: [] };
    }
    const loaded = loadRulesFile(path);
    this.opts.logger.info({ path }, 'rules file loaded');
    return loaded;
  }

  /** File rules replace earlier file rules; a rule edited through the API (source api) is left alone. */
  private async seedRules(fileRules: Rule[]): Promise<void> {
    const ids = new Set(fileRules.map((r) => r.id));
    for (const r of fileRules) {
      const cur = this.rules.get(r.id);
      if (cur?.source === 'api') continue;
      const next = { ...r, source: 'file' as const };
      if (!cur || JSON.stringify(cur) !== JSON.stringify(Rule.parse(next))) await this.rules.put(next);
    }
    for (const cur of this.rules.list())
      if (cur.source === 'file' && !ids.has(cur.id)) await this.rules.delete(cur.id);
  }

  // ---------------------------------------------------------------------------------------------- the loop

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.tickTimer = setTimeout(() => {
      this.tick().finally(() => {
        const every = durationMs(this.settings.evaluation_interval);
        // At most MAX_DUTY of the event loop on average: when the credit is spent the next tick waits.
        // Cut short for a problem: the rest comes right after its fast pass (queued by then, see armFast).
        const wait = this.credit.waitMs();
        this.schedule(this.cutShort ? Math.max(FAST_FIRST_MS, wait) : Math.max(every, wait));
      });
    }, delayMs);
  }

  /** Partitioned: a problem report another replica (or this one) ingested (controller/partition/signals.ts). */
  observeFromCluster(r: ReportCore): void {
    this.observe(r);
  }

  /** Partitioned: targets with new reports somewhere in the cluster. */
  noteTargets(targets: string[]): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const t of targets) this.known.set(t, now);
    if (this.lease.isHeld()) for (const t of targets) this.dirty.add(t);
  }

  private observe(r: ReportCore): void {
    this.recent.add(r);
    if (this.stopped) return;
    if (!(r.mode === 'watch' && r.seq === 0)) this.known.set(r.target.id, Date.now());
    if (!this.lease.isHeld() || (this.feed && !this.feed.ready)) return;
    if (!isProblem(r)) {
      this.dirty.add(r.target.id);
      return;
    }
    this.urgent.add(r.target.id);
    this.hot.add(r.target.id);
    this.armFast(r.target.id);
  }

  /**
   * A fast pass for the problem targets: at once (coalescing a burst into one pass a few ms later), but
   * never more than FAST_DUTY of the event loop either.
   */
  private armFast(target?: string): void {
    if (this.fastTimer || this.stopped) return;
    const wait = Math.max(10, this.fastCredit.waitMs());
    this.opts.logger.debug({ target, waitMs: Math.round(wait) }, 'fast alert pass scheduled');
    this.fastTimer = setTimeout(() => {
      this.fastTimer = undefined;
      this.stats.fastRuns++;
      void this.enqueue('fast');
    }, wait);
  }

  /** Runs are serialised: one pipeline pass at a time. */
  private enqueue(kind: 'tick' | 'fast', staged?: Staged): Promise<void> {
    this.chain = this.chain
      .then(() => this.run(kind, Date.now(), staged))
      .catch((err) => this.opts.logger.error({ err }, 'alert evaluation failed'));
    return this.chain;
  }

  /**
   * A routine pass. Partitioned, the replicas evaluate its scope before it joins the queue: their share
   * runs within their work credit, between ingest turns (up to seconds while they catch up), and a
   * problem's fast pass queued behind it would wait that long to page (bench:scale, three replicas).
   * Problem targets are left to the fast passes here.
   */
  private async tick(): Promise<void> {
    if (!this.opts.cluster || !this.live || this.stopped || !this.lease.isHeld()) return this.enqueue('tick');
    const now = Date.now();
    const series = this.rules.list().filter((r) => r.enabled && !r.fleet);
    let staged: Staged | undefined;
    try {
      staged = await this.askReplicas(series, this.takeScope(now), [], now);
    } catch (err) {
      // (Stopping closes the connection under a pending request: nothing failed then.)
      if (!this.stopped) this.opts.logger.error({ err }, 'alert evaluation failed');
      return;
    }
    if (staged) return this.enqueue('tick', staged);
  }

  /**
   * Partitioned, stage 1 (evaluate) on the replicas that hold the windows: what may alert comes back, per
   * target. Undefined when a partition did not answer (its targets would look empty and resolve what still
   * fires): the scope is put back for the next pass.
   */
  private async askReplicas(
    series: Rule[],
    scope: string[],
    hot: string[],
    now: number,
  ): Promise<Staged | undefined> {
    const cluster = this.opts.cluster as NonNullable<AlertingOptions['cluster']>;
    const seq = ++this.askSeq;
    const windows = [...new Set(series.map((r) => r.window))];
    // Region totals (inhibit) over 1m-5m windows move little in a second: asked at most once a second,
    // not by every fast pass.
    const fresh = now - this.clusterTotalsAt < 1000;
    const snap = await cluster.evaluateAlerts(series, scope, fresh ? [] : windows, hot);
    if (snap.missing.length) {
      for (const t of scope) this.urgent.add(t);
      for (const t of hot) this.hot.add(t);
      // Routine passes leave problem targets to the fast passes: another one is due.
      if (hot.length) this.armFast();
      this.stats.partialSkips++;
      return undefined;
    }
    const pre = new Map<string, TargetSample[]>();
    for (const s of snap.value.samples) {
      for (const r of s.regions)
        if (r.breaching) r.sampleReports = this.recent.sample(s.rule, s.target, r.region);
      const list = pre.get(s.target);
      if (list) list.push(s);
      else pre.set(s.target, [s]);
    }
    if (!fresh) {
      this.clusterTotals = snap.value.totals;
      this.clusterTotalsAt = now;
    }
    if (!snap.value.deferred.length) return { seq, scope, pre };
    // Replicas out of their budget for this pass: those targets are not evaluated now (no resolve).
    const later = new Set(snap.value.deferred);
    for (const t of later) this.urgent.add(t);
    return { seq, scope: scope.filter((t) => !later.has(t)), pre };
  }

  /**
   * What a routine pass (tick) evaluates after the problem targets, most urgent first: targets deferred
   * by earlier passes, targets with a pending or firing alert, and targets with new reports — or, every
   * FULL_EVERY_MS (the windows' bucket step, when old reports leave them), every target with data.
   */
  private takeScope(now: number): string[] {
    const out = new Set(this.urgent);
    this.urgent.clear();
    for (const a of this.live?.values() ?? [])
      if (a.state !== 'resolved' && a.labels.target && !this.fleetRule(a.rule)) out.add(a.labels.target);
    if (now >= this.nextFullAt) {
      this.nextFullAt = now + FULL_EVERY_MS;
      for (const [t, seen] of this.known) {
        if (now - seen > WINDOWS['1h']) this.known.delete(t);
        else out.add(t);
      }
      this.dirty.clear();
    } else if (this.dirty.size <= MAX_DIRTY) {
      // Healthy reports on a few targets: evaluated this tick. A flood of them (a large fleet, a replay)
      // waits for the next full pass instead, so ingest keeps its CPU; problems never wait (urgent).
      for (const t of this.dirty) out.add(t);
      this.dirty.clear();
    }
    return [...out];
  }

  private fleetRule(id: string): boolean {
    return this.rules.get(id)?.fleet !== undefined;
  }

  /**
   * One pass of the pipeline. Targets are evaluated in slices that yield to the event loop, within a
   * budget (the work credit, at least 20 ms); what does not fit is evaluated first thing next pass.
   */
  async run(kind: 'tick' | 'fast' = 'tick', now = Date.now(), staged?: Staged): Promise<void> {
    if (this.stopped) return;
    if (!this.lease.isHeld()) {
      this.live = undefined;
      return;
    }
    // Catching up with the stream: partial windows would resolve what still fires. Wait.
    if (this.feed && !this.feed.ready) return;
    if (!this.live) {
      // Partitioned: the targets with data come from every replica; a partition that did not answer
      // would leave its targets unknown, so wait for a whole answer.
      const seed =
        this.opts.cluster &&
        // Fresh: a cached answer may predate reports, and this one must not be served to the API later.
        (await this.opts.cluster.summary({ window: '1h', groupBy: 'target' }, { fresh: true }));
      if (seed?.missing.length) return;
      if (this.stopped || !this.lease.isHeld()) return;
      this.live = new Map(this.alerts.list().map((a) => [a.id, a]));
      // After a restart or a handover: every target the windows hold gets evaluated at once.
      this.nextFullAt = 0;
      for (const g of seed ? seed.value : this.windows.summary({ window: '1h', groupBy: 'target' }))
        this.known.set(g.key, now);
    }
    const live = this.live;
    const all = this.rules.list();
    const enabled = all.filter((r) => r.enabled);
    const series = enabled.filter((r) => !r.fleet);
    const agents = this.agentFacts();
    // Targets of fresh problem reports go first: a backlog of deferred targets (a full pass that did not
    // fit the work credit) must not delay the one that may page.
    // (A routine pass the replicas evaluated before it queued leaves them to the fast passes.)
    const hot = staged ? [] : [...this.hot];
    if (!staged) this.hot.clear();
    // A fast pass evaluates the problem targets only: the routine backlog (up to the whole fleet, when full
    // passes do not fit MAX_DUTY) is the ticks' work, and made each fast pass cost a slice of it.
    for (const t of hot) this.urgent.delete(t);
    const fast = kind === 'fast';
    let scope = staged ? staged.scope : [...new Set([...hot, ...(fast ? [] : this.takeScope(now))])];
    // Partitioned: stage 1 (evaluate) runs on the replicas that hold the windows; what may alert comes back.
    let pre: Map<string, TargetSample[]> | undefined;
    let seq = 0;
    if (staged) {
      ({ pre, seq } = staged);
      // A newer pass applied a newer answer for these meanwhile: that one stands.
      scope = scope.filter((t) => (this.appliedSeq.get(t) ?? 0) < seq);
    } else if (this.opts.cluster) {
      const asked = await this.askReplicas(series, scope, hot, now);
      if (!asked) return;
      ({ pre, seq, scope } = asked);
      if (this.stopped || !this.lease.isHeld()) return;
    }
    const credit = fast ? this.fastCredit : this.credit;
    const budget = Math.max(20, credit.available);
    const hotSet = new Set(hot);
    const totals = new Map<WindowName, Map<string, [number, number]>>();
    const candidates: Candidate[] = [];
    const evaluated = new Set<string>();
    let busy = 0;
    if (!fast) this.cutShort = false;

    // evaluate -> inhibit -> quorum, a slice of targets at a time
    for (let i = 0; i < scope.length; i += SLICE) {
      const t0 = performance.now();
      const part = new Set(scope.slice(i, i + SLICE));
      const samples = pre
        ? [...part].flatMap((t) => (pre as Map<string, TargetSample[]>).get(t) ?? [])
        : evaluate({
            rules: series,
            read: (w, targets) => readRows(this.windows, series, w, targets ?? part),
            targets: part,
            expectations: (t) => this.opts.targets.get(t)?.expectations,
            samples: (rule, t, region) => this.recent.sample(rule, t, region),
          });
      inhibit(
        samples,
        { agents, now, regionTotals: (w, region) => this.regionTotals(totals, w, region) },
        {
          probeErrorRatio: this.settings.inhibit.probe_error_ratio,
          agentOffline: this.settings.inhibit.agent_offline,
        },
      );
      candidates.push(...quorum(samples, (t) => this.opts.targets.get(t)?.labels));
      for (const t of part) evaluated.add(t);
      busy += performance.now() - t0;
      if (i + SLICE < scope.length) {
        let stop = busy > budget;
        if (!stop) {
          await new Promise((r) => setImmediate(r));
          if (this.stopped || !this.lease.isHeld()) return;
          // A problem report came in meanwhile: its fast pass is queued behind this routine pass, and
          // alerts fire only when a pass ends. The rest waits for the next tick (at least a slice was done).
          // Not when the replicas evaluated the scope already (pre): the rest costs little here, and
          // deferring it would have them evaluate it again.
          stop = this.cutShort = !fast && !pre && this.hot.size > 0;
        }
        if (stop) {
          // The rest is evaluated first thing next pass (problem targets by a fast one).
          let deferredHot = false;
          for (const t of scope.slice(i + SLICE)) {
            deferredHot ||= hotSet.has(t);
            (hotSet.has(t) ? this.hot : this.urgent).add(t);
          }
          if (deferredHot) this.armFast();
          break;
        }
      }
    }
    if (seq) for (const t of evaluated) this.appliedSeq.set(t, seq);
    const t1 = performance.now();
    if (kind === 'tick')
      candidates.push(
        ...evaluateFleet(
          enabled.filter((r) => r.fleet),
          agents,
        ),
      );

    // state
    const byFp = new Map(candidates.map((c) => [c.fingerprint, c]));
    const rulesById = new Map(all.map((r) => [r.id, r]));
    const writes: Promise<unknown>[] = [];
    const step = (prev: Alert | undefined, cand: Candidate | undefined) => {
      const rule = rulesById.get(prev?.rule ?? cand?.rule.id ?? '');
      const { next, transition } = advance(prev, cand, now, rule?.enabled ? rule : undefined);
      const id = (prev ?? next)?.id as string;
      if (!next) {
        if (prev) {
          live.delete(id);
          this.persistedAt.delete(id);
          writes.push(this.alerts.delete(id));
        }
        return;
      }
      live.set(id, next);
      const due = now - (this.persistedAt.get(id) ?? 0) >= PERSIST_EVERY_MS;
      if (transition || due || prev?.held !== next.held) {
        this.persistedAt.set(id, now);
        writes.push(this.alerts.put(next));
      }
      if (next.fired_at && (transition === 'firing' || transition === 'resolved'))
        writes.push(this.history.put({ ...next, id: `${id}_${Date.parse(next.fired_at)}`, fingerprint: id }));
      if (transition)
        this.opts.logger.info(
          { alert: id, rule: next.rule, labels: next.labels, value: next.value, transition },
          `alert ${transition}`,
        );
    };
    for (const c of candidates) step(live.get(c.fingerprint), c);
    for (const prev of [...live.values()]) {
      if (byFp.has(prev.id) || prev.state === 'resolved') continue;
      // Evaluated this pass and nothing came of it: its condition is gone (or its rule is).
      const rule = rulesById.get(prev.rule);
      const covered =
        rule?.fleet || (!rule && !prev.labels.target)
          ? kind === 'tick'
          : prev.labels.target !== undefined && evaluated.has(prev.labels.target);
      if (covered) step(prev, undefined);
    }
    // Resolved alerts leave the active list after the retention (their resolve notices went out long ago).
    const retention = durationMs(this.settings.resolved_retention);
    for (const a of [...live.values()]) {
      if (a.state === 'resolved' && a.resolved_at && now - Date.parse(a.resolved_at) > retention) {
        live.delete(a.id);
        this.persistedAt.delete(a.id);
        writes.push(this.alerts.delete(a.id));
      }
    }
    // State is stored before anything is sent: a page is never sent for an episode a restart would forget.
    const t2 = performance.now();
    await Promise.all(writes);

    // silence -> group/dedup -> notify
    const t3 = performance.now();
    const inflight = this.dispatcher.inflight;
    const notifications = plan({
      alerts: [...live.values()],
      silences: this.silences.list(),
      route: this.settings.route,
      receivers: this.receivers,
      log: {
        taken: (key, t) => inflight.has(key) || this.log.taken(key, t),
        claimed: (key) => inflight.has(key) || this.log.claimed(key),
      },
      clock: this.groupClock,
      now,
    });
    if (this.lease.isHeld()) for (const n of notifications) this.dispatcher.dispatch(n);

    this.lastBusyMs = busy + (t2 - t1) + (performance.now() - t3);
    credit.spend(this.lastBusyMs);
    this.stats.runs++;
    this.stats.lastRunMs = this.lastBusyMs;
    this.stats.lastScope = evaluated.size;
    this.opts.logger.debug(
      {
        kind,
        hot: hot.length,
        scope: scope.length,
        evaluated: evaluated.size,
        busyMs: Math.round(this.lastBusyMs),
        credit: Math.round(credit.available),
      },
      'alert pass',
    );
  }

  /**
   * Whole-region report and probe-error counts over a window (inhibition), computed once per pass from
   * the region rollups' counters: the inhibit stage reads two numbers, and finishing the region summary
   * (every sketch of 100 regions merged) took ~26 ms of each pass at 100k series (bench:scale profile).
   */
  private regionTotals(
    memo: Map<WindowName, Map<string, [number, number]>>,
    w: WindowName,
    region: string,
  ): { reports: number; probeErrors: number } | undefined {
    if (this.opts.cluster) return this.clusterTotals?.get(w)?.get(region);
    let m = memo.get(w);
    if (!m) {
      m = this.localWindows.regionCounts(w);
      memo.set(w, m);
    }
    const c = m.get(region);
    return c && { reports: c[0], probeErrors: c[1] };
  }

  private agentFacts(): AgentFact[] {
    return this.opts.fleet.list().map((a) => ({
      agentId: a.heartbeat.agentId,
      region: a.heartbeat.region,
      status: a.status,
      lastSeen: a.lastSeen,
      draining: a.heartbeat.draining,
    }));
  }

  private reclaimAfterMs(): number {
    let max = 0;
    for (const r of this.receivers.values()) max = Math.max(max, durationMs(r.retry.max_elapsed));
    return max + 30_000;
  }

  /** Every replica turns stored state changes into `alert` events (the SSE feed relays them). */
  private emitChanges(): void {
    const current = new Map(this.alerts.list().map((a) => [a.id, a]));
    for (const [id, a] of current) {
      if (this.emitted.get(id) === a.state) continue;
      this.emitted.set(id, a.state);
      this.opts.events.emit('alert', { transition: a.state, alert: a });
    }
    for (const id of [...this.emitted.keys()]) {
      if (current.has(id)) continue;
      this.emitted.delete(id);
    }
  }

  private async purgeSilences(now = Date.now()): Promise<void> {
    if (!this.lease.isHeld()) return;
    for (const s of this.silences.list())
      if (now - Date.parse(s.ends_at) > HISTORY_MAX_AGE_MS) await this.silences.delete(s.id);
  }

  // ------------------------------------------------------------------------------------------------ the API

  listAlerts(
    filter: { state?: Alert['state']; target?: string; rule?: string } = {},
    now = Date.now(),
  ): AlertView[] {
    const source = this.live && this.lease.isHeld() ? [...this.live.values()] : this.alerts.list();
    const silences = this.silences.list();
    return source
      .filter(
        (a) =>
          (filter.state ? a.state === filter.state : a.state !== 'resolved') &&
          (!filter.target || a.labels.target === filter.target) &&
          (!filter.rule || a.rule === filter.rule),
      )
      .sort((a, b) => b.active_at.localeCompare(a.active_at))
      .map((a) => this.view(a, silences, now));
  }

  getAlert(id: string, now = Date.now()): AlertView | undefined {
    const a = (this.lease.isHeld() ? this.live?.get(id) : undefined) ?? this.alerts.get(id);
    return a && this.view(a, this.silences.list(), now);
  }

  private view(a: Alert, silences: Silence[], now: number): AlertView {
    return {
      ...a,
      silenced_by: a.state === 'firing' || a.state === 'pending' ? silencedBy(a.labels, silences, now) : [],
      notifications: this.log.forAlert(a.id),
    };
  }

  alertHistory(filter: { target?: string; rule?: string; limit: number }): HistoryEntry[] {
    return this.history
      .list()
      .filter(
        (h) =>
          (!filter.target || h.labels.target === filter.target) && (!filter.rule || h.rule === filter.rule),
      )
      .sort((a, b) => (b.fired_at ?? '').localeCompare(a.fired_at ?? ''))
      .slice(0, filter.limit);
  }

  async putRule(input: RuleInput): Promise<Rule> {
    return this.rules.put({ ...input, source: 'api' });
  }

  async createSilence(req: SilenceRequest, author: string, now = Date.now()): Promise<Silence> {
    const starts = req.starts_at ? Date.parse(req.starts_at) : now;
    const ends = req.ends_at ? Date.parse(req.ends_at) : starts + durationMs(req.duration ?? '1h');
    return this.silences.put({
      id: `s-${randomBytes(6).toString('hex')}`,
      matchers: req.matchers,
      starts_at: iso(starts),
      ends_at: iso(ends),
      created_by: author,
      comment: req.comment,
      created_at: iso(now),
      ...(req.recurrence ? { recurrence: req.recurrence } : {}),
    });
  }

  /** Ends a silence now (kept, as expired, for the record). */
  async expireSilence(id: string, now = Date.now()): Promise<Silence | undefined> {
    const s = this.silences.get(id);
    if (!s) return undefined;
    if (Date.parse(s.ends_at) <= now) return s;
    // A silence that had not started yet ends before it begins.
    return this.silences.put({
      ...s,
      starts_at: iso(Math.min(now, Date.parse(s.starts_at))),
      ends_at: iso(now),
    });
  }

  silenceViews(now = Date.now()): SilenceView[] {
    return this.silences
      .list()
      .map((s) => ({ ...s, status: silenceStatus(s, now) }))
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  /** Waits until queued notifications are sent (tests). */
  async idle(): Promise<void> {
    await this.chain;
    await this.dispatcher.idle();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.fastTimer) clearTimeout(this.fastTimer);
    if (this.evictTimer) clearInterval(this.evictTimer);
    this.opts.events.off('ingested', this.onReport);
    await this.chain;
    // Let sends in flight finish briefly; what is cut off stays claimed-but-unsent and is retried later.
    await Promise.race([this.dispatcher.idle(), new Promise((r) => setTimeout(r, 3000))]);
    await this.dispatcher.stop();
    await this.lease.stop();
    await this.presence?.stop();
    await this.feed?.stop();
    await Promise.all([
      this.rules.stop(),
      this.silences.stop(),
      this.alerts.stop(),
      this.history.stop(),
      this.log.stop(),
    ]);
  }
}
