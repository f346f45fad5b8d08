import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import { startInjector } from './index.js';
import { InjectOptions } from './options.js';

/** `liveprobe inject`: validates the flags (a clear error, never a half-started feed) and runs until a signal. */
export async function runInjectCommand(
  flags: Record<string, unknown>,
  ctx: { config: Config; logger: Logger; untilSignal(): Promise<unknown> },
): Promise<number> {
  const parsed = InjectOptions.safeParse(flags);
  if (!parsed.success) {
    for (const i of parsed.error.issues)
      process.stderr.write(`liveprobe inject: --${i.path.join('.') || '?'}: ${i.message}\n`);
    return 64; // EX_USAGE, as the other commands (cli/ops/exit.ts)
  }
  const running = await startInjector({ options: parsed.data, config: ctx.config, logger: ctx.logger });
  await ctx.untilSignal();
  await running.stop();
  return 0;
}
