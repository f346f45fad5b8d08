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
import type { ProbeKind, Report } from '../../shared/schemas.js';
import type { Names } from '../../shared/subjects.js';
import { type Aggregator, type SummaryGroup, WINDOWS, type WindowName } from '../aggregate/aggregator.js';
import type { EventBus } from '../events.js';
import type { Fleet } from '../fleet.js';
import { Lease } from '../scheduler/lease.js';
import { KvCollection } from '../state/kvcollection.js';
import type { TargetStore } from '../state/targets.js';
import {
  type AlertingFile,
  EMPTY_RULES_FILE,
  type LoadedRulesFile,
  loadRulesFile,
  type Receiver,
  shippedRulesFile,
} from './config.js';
import { evaluate } from './evaluate.js';
import { RecentReports } from './evidence.js';
import { Presence, ReportFeed } from './feed.js';
import { type AgentFact, evaluateFleet } from './fleet-rules.js';
import { plan } from './group.js';
import { inhibit } from './inhibit.js';
import type { Fetch } from './notifiers/http.js';
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
import type { Candidate, SeriesRow } from './types.js';

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
}

const PERSIST_EVERY_MS = 15_000;
const HISTORY_MAX_AGE_MS = 7 * 86_400_000;
/** Evaluation may use at most this share of the event loop; a large fleet slows the tick instead. */
const MAX_DUTY = 0.25;
/** More dirty targets than this: a full evaluation is cheaper than one summary per target. */
const MAX_TARGETED = 32;

const iso = (ms: number) => new Date(ms).toISOString();

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
  private readonly dirty = new Set<string>();
  private tickTimer: NodeJS.Timeout | undefined;
  private fastTimer: NodeJS.Timeout | undefined;
  private evictTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private lastRunMs = 0;
  private stopped = false;
  private presence: Presence | undefined;
  private feed: ReportFeed | undefined;
  private readonly onReport = (r: Report) => this.observe(r);

  /** Counters for tests and /metrics. */
  readonly stats = { runs: 0, fastRuns: 0, lastRunMs: 0, notificationsSent: 0, notificationsFailed: 0 };

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
      onSent: () => this.stats.notificationsSent++,
      onFailed: () => this.stats.notificationsFailed++,
    });
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
    this.opts.events.on('report', this.onReport);
    if (this.opts.stream) {
      this.presence = new Presence(this.opts.leases, this.opts.holder, (peers) => {
        if (peers > 0 && !this.feed && !this.stopped) void this.startFeed();
      });
      this.presence.start();
    }
    this.lease.start();
    this.evictTimer = setInterval(() => {
      this.recent.evict(Date.now());
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
    this.opts.events.off('report', this.onReport);
    this.opts.logger.info(
      { replayMs },
      'other controller replicas present: alerting follows the whole results stream',
    );
    try {
      await feed.start();
    } catch (err) {
      this.opts.logger.error({ err }, "alerting feed failed; alerting from this replica's ingest only");
      this.feed = undefined;
      this.opts.events.on('report', this.onReport);
    }
  }

  /** The windows evaluated: the full feed once it caught up, else this replica's ingest windows. */
  private get windows(): Aggregator {
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
      this.enqueue(undefined).finally(() => {
        const every = durationMs(this.settings.evaluation_interval);
        // Never more than MAX_DUTY of the event loop: with a huge fleet the tick slows down instead.
        this.schedule(Math.max(every, this.lastRunMs / MAX_DUTY) - this.lastRunMs);
      });
    }, delayMs);
  }

  private observe(r: Report): void {
    this.recent.add(r);
    if (!this.lease.isHeld() || this.stopped || (this.feed && !this.feed.ready)) return;
    const notable =
      r.outcome !== 'ok' ||
      r.findings.length > 0 ||
      (r.metrics.errors_http ?? 0) + (r.metrics.errors_network ?? 0) + (r.metrics.errors_player ?? 0) > 0;
    if (!notable) return;
    this.dirty.add(r.target.id);
    // Coalesce a burst of reports into one targeted run a few ms later.
    this.fastTimer ??= setTimeout(() => {
      this.fastTimer = undefined;
      const targets = new Set(this.dirty);
      this.dirty.clear();
      this.stats.fastRuns++;
      void this.enqueue(targets.size > MAX_TARGETED ? undefined : targets);
    }, 10);
  }

  /** Runs are serialised: one pipeline run at a time. */
  private enqueue(scope: ReadonlySet<string> | undefined): Promise<void> {
    this.chain = this.chain
      .then(() => this.run(scope))
      .catch((err) => this.opts.logger.error({ err }, 'alert evaluation failed'));
    return this.chain;
  }

  /** One pass of the pipeline; `scope` limits it to some targets' series rules. */
  async run(scope?: ReadonlySet<string>, now = Date.now()): Promise<void> {
    if (this.stopped) return;
    if (!this.lease.isHeld()) {
      this.live = undefined;
      return;
    }
    // Catching up with the stream: partial windows would resolve what still fires. Wait.
    if (this.feed && !this.feed.ready) return;
    const t0 = performance.now();
    this.live ??= new Map(this.alerts.list().map((a) => [a.id, a]));
    const live = this.live;
    const all = this.rules.list();
    const enabled = all.filter((r) => r.enabled);
    const agents = this.agentFacts();

    // evaluate -> inhibit -> quorum
    const samples = evaluate({
      rules: enabled.filter((r) => !r.fleet),
      read: (w, targets) => this.read(w, targets),
      targets: scope,
      expectations: (t) => this.opts.targets.get(t)?.expectations,
      samples: (rule, t, region) => this.recent.sample(rule, t, region),
    });
    const totals = new Map<WindowName, Map<string, SummaryGroup>>();
    inhibit(
      samples,
      {
        agents,
        now,
        regionTotals: (w, region) => {
          let m = totals.get(w);
          if (!m) {
            m = new Map(
              this.opts.aggregator.summary({ window: w, groupBy: 'region' }).map((g) => [g.key, g]),
            );
            totals.set(w, m);
          }
          const g = m.get(region);
          return g && { reports: g.count, probeErrors: g.outcomes['probe-error'] };
        },
      },
      {
        probeErrorRatio: this.settings.inhibit.probe_error_ratio,
        agentOffline: this.settings.inhibit.agent_offline,
      },
    );
    const candidates: Candidate[] = quorum(samples, (t) => this.opts.targets.get(t)?.labels);
    if (!scope)
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
      if (byFp.has(prev.id)) continue;
      if (scope && !(prev.labels.target && scope.has(prev.labels.target) && !rulesById.get(prev.rule)?.fleet))
        continue;
      step(prev, undefined);
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
    await Promise.all(writes);

    // silence -> group/dedup -> notify
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

    this.lastRunMs = performance.now() - t0;
    this.stats.runs++;
    this.stats.lastRunMs = this.lastRunMs;
  }

  /** Window summaries per (target, region, probe): all series in one pass, or a few targets. */
  private read(window: WindowName, targets?: ReadonlySet<string>): SeriesRow[] {
    const agg = this.windows;
    if (!targets)
      return agg
        .perSeries(window)
        .map((s) => ({ target: s.target, region: s.region, probe: s.probe, summary: s.summary }));
    const rows: SeriesRow[] = [];
    for (const target of targets) {
      for (const probe of ['browser', 'stream'] as ProbeKind[]) {
        for (const g of agg.summary({ window, groupBy: 'region', target, probe }))
          rows.push({ target, region: g.key, probe, summary: g });
      }
    }
    return rows;
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
    return this.silences.put({ ...s, ends_at: iso(Math.max(now, Date.parse(s.starts_at))) });
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
    this.opts.events.off('report', this.onReport);
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
