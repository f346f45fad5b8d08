import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** One published version of a playlist / MPD and when the origin saw it appear. */
export interface ManifestVersion {
  text: string;
  /** Wall-clock ms when this version was published (file renamed into place). */
  at: number;
  mtimeMs: number;
}

export interface PlaylistStoreOptions {
  root: string;
  /** Root-relative paths of the manifests to track. */
  paths: string[];
  /** How long versions are kept (publish-delay can reach back this far). */
  historyMs?: number;
  /** Safety-net poll in case a watch event is missed. */
  pollMs?: number;
}

/**
 * Tracks every version of each playlist/MPD ffmpeg writes, with publication times, via inotify (fs.watch on
 * the directories) plus a slow poll. The origin serves the newest version; faults can serve older ones
 * (publish-delay) or a frozen one (stale). Emits 'version' (path, version).
 */
export class PlaylistStore extends EventEmitter {
  private readonly versions = new Map<string, ManifestVersion[]>();
  private readonly watchers: FSWatcher[] = [];
  private readonly pending = new Map<string, Promise<void>>();
  private poller: NodeJS.Timeout | undefined;
  private readonly historyMs: number;

  constructor(private readonly opts: PlaylistStoreOptions) {
    super();
    this.setMaxListeners(100);
    this.historyMs = opts.historyMs ?? 60_000;
    for (const p of opts.paths) this.versions.set(p, []);
  }

  start(): void {
    const byDir = new Map<string, string[]>();
    for (const p of this.opts.paths) {
      const d = dirname(p);
      byDir.set(d, [...(byDir.get(d) ?? []), p]);
    }
    for (const [dir, paths] of byDir) {
      const names = new Map(paths.map((p) => [basename(p), p]));
      const w = watch(join(this.opts.root, dir), (_event, filename) => {
        const p = filename ? names.get(filename.toString()) : undefined;
        if (p) void this.refresh(p);
      });
      w.on('error', () => {});
      this.watchers.push(w);
    }
    this.poller = setInterval(() => {
      for (const p of this.opts.paths) void this.refresh(p);
    }, this.opts.pollMs ?? 1000);
    for (const p of this.opts.paths) void this.refresh(p);
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    if (this.poller) clearInterval(this.poller);
  }

  /** Re-reads a manifest if it changed on disk; serialised per path. */
  refresh(path: string): Promise<void> {
    const prev = this.pending.get(path) ?? Promise.resolve();
    const next = prev.then(() => this.read(path));
    this.pending.set(path, next);
    void next.finally(() => {
      if (this.pending.get(path) === next) this.pending.delete(path);
    });
    return next;
  }

  private async read(path: string): Promise<void> {
    const list = this.versions.get(path);
    if (!list) return;
    const file = join(this.opts.root, path);
    let mtimeMs: number;
    let text: string;
    try {
      mtimeMs = (await stat(file)).mtimeMs;
      const last = list[list.length - 1];
      if (last && last.mtimeMs === mtimeMs) return;
      text = await readFile(file, 'utf8');
    } catch {
      return;
    }
    const last = list[list.length - 1];
    if (last && last.text === text) {
      last.mtimeMs = mtimeMs;
      return;
    }
    const v: ManifestVersion = { text, at: Date.now(), mtimeMs };
    list.push(v);
    const cutoff = v.at - this.historyMs;
    while (list.length > 2 && list[0]!.at < cutoff) list.shift();
    this.emit('version', path, v);
  }

  latest(path: string): ManifestVersion | undefined {
    const list = this.versions.get(path);
    return list?.[list.length - 1];
  }

  /** The newest version published at or before `at` (wall-clock ms). */
  asOf(path: string, at: number): ManifestVersion | undefined {
    const list = this.versions.get(path) ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.at <= at) return list[i];
    return undefined;
  }

  history(path: string): readonly ManifestVersion[] {
    return this.versions.get(path) ?? [];
  }

  tracks(path: string): boolean {
    return this.versions.has(path);
  }

  /** Resolves with the first version (existing or future) that satisfies `pred`; rejects after timeoutMs. */
  waitFor(path: string, pred: (v: ManifestVersion) => boolean, timeoutMs: number): Promise<ManifestVersion> {
    const now = this.latest(path);
    if (now && pred(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const onVersion = (p: string, v: ManifestVersion) => {
        if (p !== path || !pred(v)) return;
        cleanup();
        resolve(v);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${path}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('version', onVersion);
      };
      this.on('version', onVersion);
    });
  }
}
