import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import { parseReport } from '../../shared/fast-parse.js';
import type { Logger } from '../../shared/log.js';
import type { ReportCore } from '../../shared/report-core.js';
import { decodeJson, encodeJson } from '../../shared/transport.js';
import { isProblem } from '../alerting/evidence.js';

/** Problem reports wait at most this long to travel together (time to detect stays ~this + one pass). */
const PROBLEM_FLUSH_MS = 20;
/** Targets with new (healthy) reports are sent this often. */
const TARGETS_FLUSH_MS = 1000;
/** At most this many problem reports a flush; the rest of a flood is sent as targets (evaluated anyway). */
const MAX_PROBLEMS = 200;
/**
 * A message of problem reports stays under this many bytes: NATS refuses a payload over max_payload (1 MiB
 * by default) and the whole batch would be lost. A larger report travels alone.
 */
const BATCH_BYTES = 256 * 1024;
/** One report over this is sent with its evidence trimmed (else its target alone: evaluated anyway). */
const MAX_ONE_BYTES = 900 * 1024;

const utf8 = new TextEncoder();

const Signal = z.object({
  replica: z.string(),
  /** Problem reports (full: the alerting keeps them as evidence). */
  problems: z.array(z.unknown()).max(MAX_PROBLEMS).optional(),
  /** Targets with new reports since the last signal. */
  targets: z.array(z.string()).optional(),
});

export interface SignalSink {
  /** A problem report ingested somewhere in the cluster: its target is evaluated at once. */
  observe(r: ReportCore): void;
  /** Targets with new reports somewhere in the cluster (evaluated on the next pass). */
  noteTargets(targets: string[]): void;
}

/**
 * What the alerting lease holder needs to hear of the reports other replicas ingest — without reading the
 * whole fleet's reports a second time: each replica sends the problem reports of its partitions (a few per
 * cent of the reports, within PROBLEM_FLUSH_MS: they are what makes an alert fire fast) and, once a second,
 * which targets got reports. Core NATS, fire and forget: a lost signal only delays an evaluation until the
 * periodic full pass, which reads every target's merged windows anyway.
 */
export class ClusterSignals {
  private sub: Subscription | undefined;
  private problems: ReportCore[] = [];
  private readonly targets = new Set<string>();
  private problemTimer: NodeJS.Timeout | undefined;
  private targetTimer: NodeJS.Timeout | undefined;
  readonly stats = { sent: 0, received: 0, problems: 0 };

  constructor(
    private readonly opts: {
      nc: NatsConnection;
      subject: string;
      replicaId: string;
      logger: Logger;
      /** The alerting, when it holds the lease (else the signals are dropped on arrival). */
      sink: () => SignalSink | undefined;
    },
  ) {}

  start(): void {
    this.sub = this.opts.nc.subscribe(this.opts.subject, {
      callback: (err, msg) => {
        if (err) return;
        const sink = this.opts.sink();
        if (!sink) return;
        let s: z.infer<typeof Signal>;
        try {
          s = Signal.parse(decodeJson(msg.data));
        } catch (e) {
          this.opts.logger.warn({ err: (e as Error).message }, 'malformed cluster signal; ignored');
          return;
        }
        this.stats.received++;
        for (const raw of s.problems ?? []) {
          const parsed = parseReport(raw);
          if (parsed.success) sink.observe(parsed.data);
        }
        if (s.targets?.length) sink.noteTargets(s.targets);
      },
    });
    this.targetTimer = setInterval(() => this.flushTargets(), TARGETS_FLUSH_MS);
    this.targetTimer.unref();
  }

  /** A report this replica ingested live (not a replay). */
  onReport(r: ReportCore): void {
    if (isProblem(r) && this.problems.length < MAX_PROBLEMS) {
      this.problems.push(r);
      this.problemTimer ??= setTimeout(() => this.flushProblems(), PROBLEM_FLUSH_MS);
    } else this.targets.add(r.target.id);
  }

  private flushProblems(): void {
    this.problemTimer = undefined;
    if (!this.problems.length) return;
    const problems = this.problems;
    this.problems = [];
    // Each report is serialised once; messages are assembled from those strings (the JSON of a Signal).
    const head = `{"replica":${JSON.stringify(this.opts.replicaId)},"problems":[`;
    let batch: string[] = [];
    let bytes = 0;
    const flush = () => {
      if (batch.length) this.sendRaw(`${head}${batch.join(',')}]}`, batch.length);
      batch = [];
      bytes = 0;
    };
    for (const r of problems) {
      const json = this.problemJson(r);
      if (json === undefined) {
        this.targets.add(r.target.id);
        continue;
      }
      const size = Buffer.byteLength(json);
      if (bytes + size > BATCH_BYTES && batch.length) flush();
      batch.push(json);
      bytes += size + 1;
    }
    flush();
  }

  /** A problem report as it travels: trimmed if too large to send whole, undefined if even that is. */
  private problemJson(r: ReportCore): string | undefined {
    const json = JSON.stringify(r);
    if (Buffer.byteLength(json) <= MAX_ONE_BYTES) return json;
    const trimmed = JSON.stringify({
      ...r,
      segments: [],
      errors: r.errors.slice(0, 10),
      findings: r.findings.slice(0, 20),
      notices: undefined,
      renditions: undefined,
      sketches: undefined,
    });
    const log = { report: r.id, target: r.target.id, bytes: Buffer.byteLength(json) };
    if (Buffer.byteLength(trimmed) <= MAX_ONE_BYTES) {
      this.opts.logger.warn(
        log,
        'problem report too large for a cluster signal: sent with its evidence trimmed',
      );
      return trimmed;
    }
    this.opts.logger.warn(
      log,
      'problem report too large for a cluster signal: its target is signalled instead',
    );
    return undefined;
  }

  private sendRaw(json: string, problems: number): void {
    try {
      this.opts.nc.publish(this.opts.subject, utf8.encode(json));
      this.stats.sent++;
      this.stats.problems += problems;
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message, problems }, 'cluster signal not sent');
    }
  }

  private flushTargets(): void {
    if (!this.targets.size) return;
    const targets = [...this.targets];
    this.targets.clear();
    // Well under NATS max_payload (1 MiB by default) a message, however many targets the fleet has.
    for (let i = 0; i < targets.length; i += 5000)
      this.send({ replica: this.opts.replicaId, targets: targets.slice(i, i + 5000) });
  }

  private send(s: z.infer<typeof Signal>): void {
    try {
      this.opts.nc.publish(this.opts.subject, encodeJson(s));
      this.stats.sent++;
      this.stats.problems += s.problems?.length ?? 0;
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'cluster signal not sent');
    }
  }

  stop(): void {
    if (this.problemTimer) clearTimeout(this.problemTimer);
    if (this.targetTimer) clearInterval(this.targetTimer);
    this.flushProblems();
    this.flushTargets();
    this.sub?.unsubscribe();
  }
}
