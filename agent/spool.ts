import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../shared/log.js';

/** One report waiting for NATS: where it goes, its Nats-Msg-Id, and the encoded report (JSON text). */
export interface SpoolEntry {
  subject: string;
  msgId: string;
  data: string;
}

export interface SpoolOptions {
  /** Root directory; this agent's spool is `<dir>/<name>/`. */
  dir: string;
  /** This agent's id: one spool per agent, locked by PID. */
  name: string;
  /** Bound on the bytes of pending entries; an entry that does not fit is refused (and counted). */
  maxBytes: number;
  logger: Logger;
}

export interface SpoolStats {
  /** Entries waiting to be published. */
  depth: number;
  /** Bytes of those entries on disk. */
  bytes: number;
  /** Entries ever appended (this process). */
  appended: number;
  /** Entries refused because the spool was full (this process). */
  refused: number;
}

const ENTRIES = 'entries.jsonl';
const DONE = 'done.txt';
const LOCK = 'lock';

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads one spool directory: its entries minus those marked done, in append order. */
function readPending(dir: string): SpoolEntry[] {
  const file = join(dir, ENTRIES);
  if (!existsSync(file)) return [];
  const done = new Set(
    existsSync(join(dir, DONE)) ? readFileSync(join(dir, DONE), 'utf8').split('\n').filter(Boolean) : [],
  );
  const out: SpoolEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as SpoolEntry;
      if (typeof e.subject === 'string' && typeof e.msgId === 'string' && typeof e.data === 'string') {
        if (!done.has(e.msgId)) out.push(e);
      }
    } catch {
      // A torn last line (killed mid-write) is the only way to get here: that entry was never confirmed
      // to the caller as spooled, so its job was not acked and will be redelivered.
    }
  }
  return out;
}

/**
 * A bounded, append-only on-disk queue of reports for the time NATS is unreachable.
 *
 * - `entries.jsonl` holds one JSON line per report, fsynced before `append` returns: once the caller hears
 *   "spooled" the report survives a crash of the agent.
 * - `done.txt` lists the msg ids already published; it is not fsynced: a lost line only means a replay of a
 *   report JetStream then deduplicates by its Nats-Msg-Id.
 * - Both are truncated when the queue empties and compacted when mostly done.
 * - One agent per spool (`lock` holds its PID). A spool left behind by a dead agent (another id, e.g. the
 *   random default id of the previous run) is adopted at start, older entries first, so nothing is stranded.
 * - Full: `append` refuses the entry (returns false) and counts it; the caller decides (the updater hands the
 *   job back so it runs again once NATS is back). Newest is refused rather than oldest evicted: the spool
 *   keeps a contiguous history and never throws away a report it already promised to deliver.
 */
export class Spool {
  private readonly queue: Array<SpoolEntry & { size: number }> = [];
  private head = 0;
  private bytes = 0;
  private fileBytes = 0;
  private appended = 0;
  private refused = 0;
  private readonly own: string;

  constructor(private readonly opts: SpoolOptions) {
    this.own = join(opts.dir, opts.name);
  }

  /** Locks this agent's spool, loads what is pending in it and adopts spools of dead agents. */
  open(): void {
    mkdirSync(this.own, { recursive: true });
    const lockFile = join(this.own, LOCK);
    if (existsSync(lockFile)) {
      const pid = Number(readFileSync(lockFile, 'utf8').trim());
      if (pidAlive(pid)) {
        throw new Error(
          `spool ${this.own} is in use by pid ${pid}: give each agent its own agent.id or agent.spoolDir`,
        );
      }
    }
    writeFileSync(lockFile, String(process.pid));

    const adopted: SpoolEntry[] = [];
    for (const name of readdirSync(this.opts.dir)) {
      const dir = join(this.opts.dir, name);
      if (dir === this.own || !statSync(dir).isDirectory() || !existsSync(join(dir, ENTRIES))) continue;
      const lock = join(dir, LOCK);
      const pid = existsSync(lock) ? Number(readFileSync(lock, 'utf8').trim()) : 0;
      if (pidAlive(pid)) continue;
      const pending = readPending(dir);
      if (pending.length) {
        this.opts.logger.warn(
          { from: dir, reports: pending.length },
          'adopting the spool of a stopped agent',
        );
      }
      adopted.push(...pending);
      rmSync(dir, { recursive: true, force: true });
    }
    const mine = readPending(this.own);
    // Rewrite: adopted (older) first, then ours, with an empty done list.
    this.rewrite([...adopted, ...mine]);
    if (this.depth > 0) {
      this.opts.logger.info({ reports: this.depth, bytes: this.bytes }, 'spool has reports to replay');
    }
  }

  get depth(): number {
    return this.queue.length - this.head;
  }

  stats(): SpoolStats {
    return { depth: this.depth, bytes: this.bytes, appended: this.appended, refused: this.refused };
  }

  /**
   * Appends durably; false (counted) when the entry would exceed maxBytes, or the disk refused it (full, I/O
   * error): then the file is cut back to where it was, so no torn line remains, and the caller hands the job
   * back. A short write is continued until the whole line is down; only then (and fsynced) is it accepted.
   */
  append(entry: SpoolEntry): boolean {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`);
    const size = line.length;
    if (this.bytes + size > this.opts.maxBytes) {
      this.refused++;
      return false;
    }
    const fd = openSync(join(this.own, ENTRIES), 'a');
    let before = -1;
    try {
      before = fstatSync(fd).size;
      for (let off = 0; off < size; ) off += writeSync(fd, line, off, size - off);
      fsyncSync(fd);
    } catch (err) {
      if (before >= 0) {
        try {
          ftruncateSync(fd, before);
        } catch {
          // not a regular file (or the disk is gone): nothing more to undo
        }
      }
      this.refused++;
      this.opts.logger.error(
        { err: (err as Error).message },
        'spool write failed (disk full?): report not spooled',
      );
      return false;
    } finally {
      closeSync(fd);
    }
    this.queue.push({ ...entry, size });
    this.bytes += size;
    this.fileBytes += size;
    this.appended++;
    return true;
  }

  /** The oldest pending entry. */
  peek(): SpoolEntry | undefined {
    return this.queue[this.head];
  }

  /** The oldest `n` pending entries, oldest first (commit() them in that order). */
  peekBatch(n: number): SpoolEntry[] {
    return this.queue.slice(this.head, this.head + n);
  }

  /** Marks the oldest entry published. */
  commit(): void {
    const e = this.queue[this.head];
    if (!e) return;
    this.head++;
    this.bytes -= e.size;
    if (this.depth === 0) {
      this.rewrite([]);
      return;
    }
    appendFileSync(join(this.own, DONE), `${e.msgId}\n`);
    // Compact when the files are mostly published entries.
    if (this.fileBytes > 1024 * 1024 && this.fileBytes > 4 * this.bytes) {
      this.rewrite(this.queue.slice(this.head));
    }
  }

  /** Releases the lock; pending entries stay on disk for the next start. */
  close(): void {
    rmSync(join(this.own, LOCK), { force: true });
    if (this.depth === 0) rmSync(this.own, { recursive: true, force: true });
  }

  private rewrite(entries: SpoolEntry[]): void {
    const text = entries.map(
      (e) => `${JSON.stringify({ subject: e.subject, msgId: e.msgId, data: e.data })}\n`,
    );
    const tmp = join(this.own, `${ENTRIES}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      if (text.length) writeSync(fd, text.join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.own, ENTRIES));
    rmSync(join(this.own, DONE), { force: true });
    this.queue.length = 0;
    this.head = 0;
    this.bytes = 0;
    for (const [i, e] of entries.entries()) {
      const size = Buffer.byteLength(text[i] as string);
      this.queue.push({ subject: e.subject, msgId: e.msgId, data: e.data, size });
      this.bytes += size;
    }
    this.fileBytes = this.bytes;
  }
}
