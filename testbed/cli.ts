import { createLogger, type Logger } from '../shared/log.js';
import { startTestbed, type Testbed, type TestbedOptions } from './index.js';

export interface TestbedCommandOptions extends TestbedOptions {
  /** Stop on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
}

/**
 * `liveprobe testbed --port P [--scenario file]`: starts the testbed, logs its URLs and runs until SIGINT or
 * SIGTERM. Option names match the CLI flags, so the command wiring is
 * `.action((o) => runTestbedCommand({ ...o, port: Number(o.port) }))`.
 * Resolves with the running testbed (stop() is also called on the signals).
 */
export async function runTestbedCommand(opts: TestbedCommandOptions = {}): Promise<Testbed> {
  const logger: Logger = opts.logger ?? createLogger('testbed');
  const { handleSignals = true, ...tbOpts } = opts;
  const tb = await startTestbed({ ...tbOpts, logger });
  logger.info({ url: tb.url, time: `${tb.url}/time`, streams: `${tb.url}/streams` }, 'testbed listening');
  for (const s of tb.streams)
    logger.info({ id: s.id, url: s.url, renditions: s.renditions.map((r) => r.name) }, 'stream');
  if (handleSignals) {
    const onSignal = (sig: NodeJS.Signals) => {
      logger.info({ signal: sig }, 'stopping testbed');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      tb.stop().then(
        () => process.exit(0),
        (err: Error) => {
          logger.error({ err: err.message }, 'testbed stop failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  return tb;
}
