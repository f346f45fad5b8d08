import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../shared/log.js';
import { decodeReportCore, type ReportCore, type Rows } from '../shared/report-core.js';
import type { Names } from '../shared/subjects.js';

/**
 * Ack after this many reports, or ACK_IDLE_MS after the last one, whichever comes first. Every ack is a
 * socket write; redelivery of an unacked batch after a crash is made idempotent by the id memory.
 */
const ACK_BATCH = 500;
const ACK_IDLE_MS = 20;
/**
 * Pull up to PULL_MAX reports and ask for more when PULL_REFILL are left: few, large pull requests (the
 * client's default refills at 75 %, a pull request every quarter batch).
 */
const PULL_MAX = 1000;
const PULL_REFILL = 250;
/**
 * Ingest is catching up when its consumer has more than this many reports waiting (a restart after an
 * outage, a burst): alerting then gets a smaller share of the event loop (BEHIND_DUTY) until it is not.
 */
export const BEHIND_REPORTS = 2 * PULL_MAX;
/** Share of the event loop alert evaluation may take while ingest catches up (10 % otherwise). */
export const BEHIND_DUTY = 0.02;

export interface IngestOptions {
  js: JetStreamClient;
  names: Names;
  logger: Logger;
  /**
   * Called once per distinct report id, in stream order, with its results-stream sequence and its segment
   * rows as they came (JSON text or its bytes, unvalidated: shared/report-core.ts withSegments makes the
   * whole report). Bytes are a view of the message: read them before returning, never keep them.
   */
  onReport: (report: ReportCore, seq: number, segments: Rows) => void;
  /** Report ids remembered to make redelivery (after a controller crash) idempotent: at least this many, at most twice. */
  rememberIds?: number;
  /** Durable consumer to read (default: the shared `names.ingestConsumer`; a partition's own: controller/partition/). */
  consumer?: string;
}

/**
 * Durable pull consumer on the results stream. A report is acked only after every handler ran, so a
 * controller killed mid-ingest gets it redelivered; remembered ids make that redelivery count once.
 * A malformed report is counted, logged and acked past (never redelivered), never crashes the loop.
 */
export class Ingest {
  /** `mismatched` (also counted in `invalid`): the body's region or agent disagrees with the subject. */
  readonly stats = { ingested: 0, invalid: 0, redelivered: 0, mismatched: 0 };
  /** The ack subject of the last message delivered: it carries the consumer's pending count. */
  private lastReply: string | undefined;
  /**
   * Remembered ids in two generations: `recent` takes new ids up to `max`, then becomes `older` and the
   * previous `older` is dropped whole. An id is remembered for at least `max` more ids, at most 2 x max.
   * Cheaper per report than a ring of ids with a delete from one Set: no delete, no ring slot to write.
   */
  private recent = new Set<string>();
  private older = new Set<string>();
  private messages: ConsumerMessages | undefined;
  private pending: JsMsg | undefined;
  private unacked = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly max: number;

  constructor(private readonly opts: IngestOptions) {
    this.max = Math.max(1, opts.rememberIds ?? 100_000);
  }

  /** Reports still waiting in the consumer after the last one delivered. */
  get backlog(): number {
    return pendingOf(this.lastReply);
  }

  async start(): Promise<void> {
    const consumer = await this.opts.js.consumers.get(
      this.opts.names.resultsStream,
      this.opts.consumer ?? this.opts.names.ingestConsumer,
    );
    // A short pull expiry: if the consumer's leader moves (a cluster node dies), ingest notices in seconds.
    // A callback, not the async iterator: one report is handled synchronously as the client parses it,
    // in stream order, without a promise and a queue entry per report.
    this.messages = await consumer.consume({
      max_messages: PULL_MAX,
      threshold_messages: PULL_REFILL,
      expires: 5000,
      callback: (msg) => this.handle(msg),
    });
  }

  /**
   * One delivered message: decode and validate once (its segment rows left as text), check it against its
   * subject, hand it on once per id.
   * Never throws (a throw would stop the consumer).
   */
  handle(msg: JsMsg): void {
    // Kept, not parsed: the backlog is read once per alerting pass, not once per report.
    this.lastReply = (msg as unknown as { reply?: string }).reply;
    let report: ReportCore;
    let segments: Rows;
    try {
      const decoded = decodeReportCore(msg.data);
      const parsed = decoded.parsed;
      segments = decoded.segments;
      if (!parsed.success) {
        this.stats.invalid++;
        this.opts.logger.warn(
          { subject: msg.subject, seq: msg.seq, issues: parsed.error.issues.slice(0, 5) },
          'malformed report; skipped',
        );
        this.done(msg);
        return;
      }
      report = parsed.data;
      const claim = subjectMismatch(msg.subject, report);
      if (claim) {
        // A report for another region or agent than the one its subject (and so the publisher's NATS
        // permissions) vouches for: a compromised or misconfigured agent, never ingested.
        this.stats.invalid++;
        this.stats.mismatched++;
        this.opts.logger.warn(
          { subject: msg.subject, seq: msg.seq, region: report.region, agentId: report.agentId, claim },
          'report body disagrees with its subject; dropped',
        );
        this.done(msg);
        return;
      }
    } catch {
      this.stats.invalid++;
      this.opts.logger.warn({ subject: msg.subject, seq: msg.seq }, 'report is not JSON; skipped');
      this.done(msg);
      return;
    }
    if (this.known(report.id)) {
      this.stats.redelivered++;
      this.done(msg);
      return;
    }
    try {
      this.opts.onReport(report, streamSeq(msg), segments);
    } catch (err) {
      this.opts.logger.error({ err, reportId: report.id }, 'report handler failed');
    }
    this.add(report.id);
    this.stats.ingested++;
    this.done(msg);
  }

  /**
   * The consumer acks cumulatively (AckPolicy.All): acking message N acks everything before it. Messages
   * are handled strictly in order, so one ack per batch (or after a short idle) is as safe as one per
   * message — and a per-message ack was a socket write per report, the largest ingest cost.
   */
  private done(msg: JsMsg): void {
    this.pending = msg;
    if (++this.unacked >= ACK_BATCH) this.flush();
    else this.timer ??= setTimeout(this.flush, ACK_IDLE_MS);
  }

  private readonly flush = (): void => {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending?.ack();
    this.pending = undefined;
    this.unacked = 0;
  };

  /** Marks a report as already handled (replayed at start-up), so its redelivery is not counted twice. */
  remember(id: string): void {
    if (!this.known(id)) this.add(id);
  }

  private known(id: string): boolean {
    return this.recent.has(id) || this.older.has(id);
  }

  private add(id: string): void {
    if (this.recent.size >= this.max) {
      this.older = this.recent;
      this.recent = new Set();
    }
    this.recent.add(id);
  }

  async stop(): Promise<void> {
    if (this.messages) {
      const closed = this.messages.closed();
      this.messages.stop();
      await closed;
    }
    this.flush();
  }
}

/**
 * `<prefix>.results.<region>.<agent>.<target>`: which of region, agent or target the body contradicts.
 * A subject of the older 4-token form (`<prefix>.results.<region>.<target>`, spooled before an upgrade) is
 * held to its region and target only.
 */
export function subjectMismatch(
  subject: string,
  r: Pick<ReportCore, 'region' | 'agentId' | 'target'>,
): string | undefined {
  // The usual case, checked in place (no token array per report): `<prefix>.results.<region>.<agent>.<target>`
  // (then `.<partition>` when partitioned) with all three as the body says. Anything else takes the
  // token-by-token path, which names the mismatch.
  const a = subject.indexOf('.');
  const region = a + 9;
  const agent = region + r.region.length + 1;
  const target = agent + r.agentId.length + 1;
  const end = target + r.target.id.length;
  if (
    a > 0 &&
    subject.startsWith('.results.', a) &&
    subject.startsWith(r.region, region) &&
    subject.charCodeAt(agent - 1) === DOT &&
    subject.startsWith(r.agentId, agent) &&
    subject.charCodeAt(target - 1) === DOT &&
    subject.startsWith(r.target.id, target) &&
    (subject.length === end || (subject.charCodeAt(end) === DOT && digitsFrom(subject, end + 1)))
  ) {
    return undefined;
  }
  // The prefix is one subject token (nats.prefix is a SubjectToken).
  const t = subject.split('.');
  if (t[1] !== 'results') return 'subject';
  const rest = t.slice(2);
  // A partitioned deployment's server appends the target's partition (`{{partition(n,3)}}`): R.A.T.<p>.
  if (rest.length === 4 && /^\d+$/.test(rest[3] as string)) rest.pop();
  if (rest[0] !== r.region) return 'region';
  if (rest.length === 3 && rest[1] !== r.agentId) return 'agent';
  if (rest[rest.length - 1] !== r.target.id) return 'target';
  return rest.length === 2 || rest.length === 3 ? undefined : 'subject';
}

const DOT = 46;

/** `s` from `at` to its end is one or more decimal digits. */
function digitsFrom(s: string, at: number): boolean {
  if (at >= s.length) return false;
  for (let i = at; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * A delivered message's stream sequence, read from its ack subject without the client's `msg.seq` (which
 * splits the subject and parses five numbers into a new object, per report):
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>` (9 tokens) or, with
 * a domain and account hash, `$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<stream seq>...`.
 */
export function streamSeq(msg: JsMsg): number {
  // `reply` is on the client's message object, not in the JsMsg interface.
  const reply = (msg as unknown as { reply?: string }).reply;
  if (!reply) return msg.seq;
  let dots = 0;
  for (let i = reply.indexOf('.'); i >= 0; i = reply.indexOf('.', i + 1)) dots++;
  // Token 5 (9 tokens) or 7 (12 tokens): skip that many dots.
  const skip = dots === 8 ? 5 : 7;
  let at = 0;
  for (let k = 0; k < skip; k++) at = reply.indexOf('.', at) + 1;
  let n = 0;
  for (let i = at; i < reply.length; i++) {
    const c = reply.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return at > 0 && (dots === 8 || dots === 11) ? n : msg.seq;
}

/**
 * The consumer's pending count when a message was delivered, from its ack subject (see streamSeq): the
 * last token of the 9-token form, the one before last of the 12-token form; 0 for anything else.
 */
export function pendingOf(reply: string | undefined): number {
  if (!reply) return 0;
  let dots = 0;
  let last = -1;
  let before = -1;
  for (let i = reply.indexOf('.'); i >= 0; i = reply.indexOf('.', i + 1)) {
    dots++;
    before = last;
    last = i;
  }
  const from = dots === 8 ? last + 1 : dots === 11 ? before + 1 : -1;
  if (from <= 0) return 0;
  const to = dots === 8 ? reply.length : last;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = reply.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return 0;
    n = n * 10 + c;
  }
  return n;
}
