import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import type { Logger } from '../../shared/log.js';
import { chooseSandbox, type SandboxChoice } from './chromium.js';
import { processGroupPssMb, waitGroupGone } from './proc.js';

/** Flags Chromium needs here (FIELD-NOTES): headless, no GPU, no background chatter, autoplay allowed. */
export const BASE_CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--window-size=680,420',
] as const;

export interface PoolOptions {
  chromiumPath: string;
  /** Replaces BASE_CHROMIUM_ARGS when set (LIVEPROBE_CHROMIUM_ARGS: every flag settable by the operator). */
  baseArgs?: readonly string[];
  extraArgs: readonly string[];
  logger: Logger;
  /** Concurrent sessions (windows) in the one browser; further run() calls wait for a slot. */
  maxSessions: number;
  /** Relaunch the browser once it has served this many sessions and is idle (bounds leaks). */
  recycleAfterSessions: number;
  /** Relaunch the browser when idle and its process group's PSS exceeds this (memory growth). */
  recycleAbovePssMb: number;
  launchTimeoutMs: number;
}

export class BrowserLaunchError extends Error {
  override readonly name = 'BrowserLaunchError';
}

interface Instance {
  browser: Browser;
  child: ChildProcess | null;
  pid?: number;
  userDataDir: string;
  sessions: number;
  /** We are closing it: its disconnect is expected. */
  disposing: boolean;
}

/** A session's hold on the browser; release() frees its slot. */
export interface Lease {
  browser: Browser;
  pid?: number;
  release(): void;
  /** The browser stopped answering: kill it so the next session gets a fresh one. */
  markBroken(reason: string): void;
}

function alive(child: ChildProcess | null): boolean {
  return !!child && child.exitCode === null && child.signalCode === null;
}

/**
 * One Chromium process per prober, launched lazily and relaunched if it died; sessions get their own window.
 * A session slot is a counting semaphore (maxSessions).
 */
export class BrowserPool {
  private inst?: Instance;
  private launching?: Promise<Instance>;
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  private closed = false;
  private readonly disposing = new Set<Promise<void>>();

  /** The sandbox of the latest launch (which, and why). */
  sandbox: SandboxChoice | undefined;

  constructor(private readonly opts: PoolOptions) {}

  health(): { healthy: boolean; pid?: number; sessions: number; pssMb?: number } {
    const i = this.inst;
    return {
      healthy: !!i && i.browser.connected && alive(i.child),
      pid: i?.pid,
      sessions: this.active,
      pssMb: i?.pid !== undefined ? processGroupPssMb(i.pid) : undefined,
    };
  }

  async acquire(signal: AbortSignal): Promise<Lease> {
    await this.slot(signal);
    try {
      const inst = await this.ensure();
      inst.sessions++;
      let released = false;
      return {
        browser: inst.browser,
        pid: inst.pid,
        release: () => {
          if (released) return;
          released = true;
          this.active--;
          this.waiters.shift()?.();
          this.maybeRecycle();
        },
        markBroken: (reason: string) => {
          if (this.inst !== inst) return;
          this.opts.logger.warn({ pid: inst.pid, reason }, 'browser marked broken; killing it');
          this.inst = undefined;
          this.disposeLater(inst);
        },
      };
    } catch (err) {
      this.active--;
      this.waiters.shift()?.();
      throw err;
    }
  }

  private async slot(signal: AbortSignal): Promise<void> {
    while (this.active >= this.opts.maxSessions) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        };
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.waiters.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    signal.throwIfAborted();
    this.active++;
  }

  private async ensure(): Promise<Instance> {
    if (this.closed) throw new BrowserLaunchError('browser pool is closed');
    const cur = this.inst;
    if (cur?.browser.connected && alive(cur.child)) return cur;
    if (!this.launching) {
      this.launching = (async () => {
        if (cur) {
          this.opts.logger.warn({ pid: cur.pid }, 'browser gone; relaunching');
          await this.dispose(cur);
          this.inst = undefined;
        }
        const inst = await this.launch();
        this.inst = inst;
        return inst;
      })().finally(() => {
        this.launching = undefined;
      });
    }
    return this.launching;
  }

  private async launch(): Promise<Instance> {
    const userDataDir = mkdtempSync(join(tmpdir(), 'liveprobe-chromium-'));
    const args: string[] = [...(this.opts.baseArgs ?? BASE_CHROMIUM_ARGS)];
    args.push(...this.opts.extraArgs);
    // The sandbox stays on wherever this host allows it (chromium.ts chooseSandbox); the log says which.
    const sandbox = chooseSandbox(this.opts.chromiumPath, args);
    args.push(...sandbox.args);
    this.sandbox = sandbox;
    const t0 = Date.now();
    try {
      const browser = await puppeteer.launch({
        executablePath: this.opts.chromiumPath,
        headless: true,
        pipe: true,
        userDataDir,
        args,
        defaultViewport: null,
        // The agent owns signal handling; the pool kills its browser itself.
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
        // Pages run untrusted scripts: Chromium gets no NATS credentials, API tokens or other secrets.
        env: chromiumEnv(),
        // Every measurement comes from hls.js inside the page; CDP network events would only cost CPU.
        networkEnabled: false,
        timeout: this.opts.launchTimeoutMs,
        protocolTimeout: 30_000,
      });
      const child = browser.process();
      const pid = child?.pid;
      // Off because the host does not allow it (not because an operator said so): worth a warning.
      this.opts.logger[sandbox.args.includes('--no-sandbox') ? 'warn' : 'info'](
        {
          pid,
          ms: Date.now() - t0,
          path: this.opts.chromiumPath,
          version: await browser.version(),
          sandbox: sandbox.mode,
          sandboxReason: sandbox.reason,
        },
        'browser launched',
      );
      const inst: Instance = { browser, child, pid, userDataDir, sessions: 0, disposing: false };
      browser.once('disconnected', () => {
        if (inst.disposing) this.opts.logger.debug({ pid }, 'browser closed');
        else this.opts.logger.warn({ pid }, 'browser disconnected unexpectedly (crashed or killed)');
      });
      return inst;
    } catch (err) {
      rmSync(userDataDir, { recursive: true, force: true });
      throw new BrowserLaunchError(
        `Chromium failed to launch (${this.opts.chromiumPath}): ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }

  private maybeRecycle(): void {
    const i = this.inst;
    if (!i || this.active > 0 || this.launching) return;
    let why: string | undefined;
    if (i.sessions >= this.opts.recycleAfterSessions) why = `served ${i.sessions} sessions`;
    else if (i.pid !== undefined) {
      const pss = processGroupPssMb(i.pid);
      if (pss !== undefined && pss > this.opts.recycleAbovePssMb)
        why = `PSS ${pss} MB > ${this.opts.recycleAbovePssMb} MB`;
    }
    if (!why) return;
    this.opts.logger.info({ pid: i.pid, why }, 'recycling browser');
    this.inst = undefined;
    this.disposeLater(i);
  }

  /** Close gracefully, then kill the process group by PID, then remove the profile directory. */
  /** Disposal in the background (recycle, broken browser); close() waits for it. */
  private disposeLater(i: Instance): void {
    const p = this.dispose(i).catch((err) =>
      this.opts.logger.warn({ pid: i.pid, err: (err as Error).message }, 'browser disposal failed'),
    );
    this.disposing.add(p);
    void p.finally(() => this.disposing.delete(p));
  }

  private async dispose(i: Instance): Promise<void> {
    i.disposing = true;
    if (i.browser.connected) {
      await Promise.race([
        i.browser.close().catch(() => {}),
        new Promise((r) => setTimeout(r, 3000).unref()),
      ]);
    }
    if (i.pid !== undefined) {
      const wasAlive = alive(i.child);
      const exited = new Promise<void>((resolve) => i.child?.once('exit', () => resolve()));
      try {
        // puppeteer starts Chromium detached, in its own process group: -pid also reaches renderers and the
        // zygote, which can outlive a main process that was killed.
        process.kill(-i.pid, 'SIGKILL');
      } catch {
        if (wasAlive) {
          try {
            process.kill(i.pid, 'SIGKILL');
          } catch {}
        }
      }
      if (wasAlive) await Promise.race([exited, new Promise((r) => setTimeout(r, 5000).unref())]);
      // Renderers and the zygote outlive a killed main process for a moment and keep writing the profile:
      // remove it only once the whole group is gone.
      await waitGroupGone(i.pid, 5000);
    }
    rmSync(i.userDataDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.launching?.catch(() => {});
    const i = this.inst;
    this.inst = undefined;
    if (i) await this.dispose(i);
    await Promise.all([...this.disposing]);
  }
}

/**
 * The environment Chromium is launched with: an allow-list (locale, paths, display, fonts, proxies the
 * operator set for it), never the agent's own (NATS_*, LIVEPROBE_*, secrets of secretRef, cloud credentials).
 */
const CHROMIUM_ENV_KEYS =
  /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TMPDIR|DISPLAY|WAYLAND_DISPLAY|FONTCONFIG_(FILE|PATH)|LC_[A-Z]+|XDG_[A-Z_]+|DBUS_SESSION_BUS_ADDRESS|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$/;

export function chromiumEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && CHROMIUM_ENV_KEYS.test(k)) out[k] = v;
  return out;
}
