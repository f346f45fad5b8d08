import { type Config, ConfigError, loadConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/log.js';
import { killDescendants } from './children.js';

export interface CommonFlags {
  config?: string;
  logLevel?: string;
}

/** Loads config (file + env + flags) and exits with the error naming the bad key instead of a stack trace. */
export function setup(
  name: string,
  flags: CommonFlags,
  overrides: Record<string, unknown> = {},
  logFd: 1 | 2 | string = 1,
): { config: Config; logger: Logger } {
  try {
    const config = loadConfig({
      file: flags.config,
      overrides: { ...overrides, ...(flags.logLevel ? { 'log.level': flags.logLevel } : {}) },
    });
    return { config, logger: createLogger(name, config.log.level, logFd) };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`liveprobe: ${err.message}\n`);
      // EX_CONFIG: a configuration error never reads as a probe verdict.
      process.exit(78);
    }
    throw err;
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (sig: NodeJS.Signals) => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve(sig);
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  });
}

export const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${v}`);
  return n;
};

/**
 * Runs a service's graceful stop, but never for longer than `withinMs`: then every process this one started
 * (and their children) gets SIGKILL and we exit. A stop can hang when nats-server got the same Ctrl-C and is
 * gone (drains, KV watches and acks wait on it); an operator's Ctrl-C must still end everything promptly.
 */
export async function stopWithin(
  stop: () => Promise<void>,
  withinMs: number,
  onTimeout?: () => void,
): Promise<never> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), withinMs);
  });
  const result = await Promise.race([
    stop().then(
      () => 'stopped' as const,
      () => 'failed' as const,
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (result === 'timeout') onTimeout?.();
  killDescendants();
  process.exit(result === 'stopped' ? 0 : 1);
}
