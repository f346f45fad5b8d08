import { type Config, ConfigError, loadConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/log.js';

export interface CommonFlags {
  config?: string;
  logLevel?: string;
}

/** Loads config (file + env + flags) and exits with the error naming the bad key instead of a stack trace. */
export function setup(
  name: string,
  flags: CommonFlags,
  overrides: Record<string, unknown> = {},
  logFd: 1 | 2 = 1,
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
      process.exit(2);
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
