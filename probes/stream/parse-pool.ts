/**
 * Large documents are parsed off the event loop: a 4 MiB media playlist takes 150-400 ms to parse here,
 * long enough to delay every other run's reloads and the agent's heartbeats. Bodies over OFFLOAD_BYTES go to
 * one worker thread per prober; smaller ones (nearly all) are parsed inline, where a worker's message copy
 * would cost more than the parse. A parse that runs past the time budget has its worker terminated and
 * comes back as `manifest-too-large`.
 *
 * What crosses the thread boundary is kept cheap for the loop (measured with --cpu-prof: decoding a 4 MiB
 * body, cloning it as a string into the worker and cloning the parsed document's copy of it back cost the
 * loop ~80 ms per reload): the body goes over as bytes in a transferred ArrayBuffer (one memcpy), is
 * decoded in the worker, and the parsed document comes back without its text; the caller gives it back a
 * `text` decoded lazily from its own bytes (evidence reads it only when there is a finding to show).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MpdSnapshot } from './dash/parse.js';
import type { MasterPlaylist, MediaPlaylist, ParseResult } from './model.js';

/**
 * Bodies at least this large are parsed in the worker: m3u8-parser costs ~1 µs per byte here on a quiet
 * machine and several times that on a loaded one (a 190 KiB master of 5000 renditions took 300 ms inline
 * under load), while handing bytes over costs one memcpy. Live windows (a few KiB) stay inline.
 */
export const OFFLOAD_BYTES = 64 * 1024;
/** Parse time budget of one document. */
export const PARSE_BUDGET_MS = 10_000;

export interface ParseRequest {
  id: number;
  kind: 'hls' | 'mpd';
  /** The undecoded body: its ArrayBuffer is transferred to the worker. */
  bytes: Uint8Array;
  fetchedAt: number;
  url: string;
  clockOffset: number;
}

export interface Parsed {
  master?: ParseResult<MasterPlaylist>;
  media?: ParseResult<MediaPlaylist>;
  mpd?: ParseResult<MpdSnapshot>;
  error?: string;
  /** hls: whether the body looked like a multivariant playlist (looksLikeMaster, run in the worker). */
  isMaster?: boolean;
}

/** dist/probes/stream/parse-worker.js: next to this module once compiled; from the sources, under dist/. */
function workerPath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, 'parse-worker.js');
  if (existsSync(sibling)) return sibling;
  let dir = here;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  const built = join(dir, 'dist', 'probes', 'stream', 'parse-worker.js');
  return existsSync(built) ? built : undefined;
}

export class ParsePool {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (p: Parsed) => void; timer: NodeJS.Timeout }>();
  private readonly path = workerPath();
  private closed = false;
  /** Documents parsed in the worker since start. */
  offloaded = 0;

  /** False when no compiled worker exists (then callers parse inline). */
  get available(): boolean {
    return this.path !== undefined && !this.closed;
  }

  private spawn(): Worker {
    const w = new Worker(this.path as string);
    w.unref();
    w.on('message', (m: { id: number; out: Parsed }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      clearTimeout(p.timer);
      this.pending.delete(m.id);
      p.resolve(m.out);
    });
    const fail = (why: string) => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.resolve({ error: why });
      }
    };
    w.on('error', (err) => fail(`parser worker failed: ${err.message}`));
    w.on('exit', () => fail('parser worker exited'));
    return w;
  }

  /** Parses `req.bytes` (left untouched: the worker gets a copy, the caller keeps its bytes). */
  parse(req: Omit<ParseRequest, 'id'>): Promise<Parsed> {
    if (!this.available) return Promise.resolve({ error: 'no parser worker' });
    this.worker ??= this.spawn();
    const w = this.worker;
    const id = this.nextId++;
    this.offloaded++;
    return new Promise<Parsed>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ error: `manifest-too-large: parsing took more than ${PARSE_BUDGET_MS / 1000} s` });
        // The only way to stop a runaway parse; the other parses in flight on it come back as errors.
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
      }, PARSE_BUDGET_MS);
      this.pending.set(id, { resolve, timer });
      const copy = new Uint8Array(req.bytes.byteLength);
      copy.set(req.bytes);
      w.postMessage({ ...req, bytes: copy, id }, [copy.buffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.worker?.terminate();
    this.worker = undefined;
  }
}
