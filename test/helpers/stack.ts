import { type Agent, startAgent } from '../../agent/index.js';
import { createProbers } from '../../cli/probers.js';
import { type Controller, startController } from '../../controller/index.js';
import { type Config, loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import { type Ladder, startTestbed, type Testbed } from '../../testbed/index.js';
import { freePort, startNats } from './procs.js';

export interface Stack {
  nats: Awaited<ReturnType<typeof startNats>>;
  testbed: Testbed;
  controller: Controller;
  agent: Agent;
  config: Config;
  stop(): Promise<void>;
}

/**
 * The whole product on loopback with a real part on every hop: nats-server, the ffmpeg testbed, a
 * controller and one agent (region "local") with the real probers.
 */
export async function startStack(opts: { ladder?: Ladder } = {}): Promise<Stack> {
  const logger = createLogger('test', 'warn');
  const nats = await startNats();
  const testbed = await startTestbed({ port: 0, ladder: opts.ladder ?? 'single', logger });
  const config = loadConfig({
    env: {},
    overrides: {
      'nats.url': nats.url,
      'egress.allow': LOOPBACK_RULES,
      'controller.port': await freePort(),
      'agent.region': 'local',
      'agent.heartbeatS': 1,
    },
  });
  const controller = await startController({ config, logger });
  const agent = await startAgent({ config, logger, probers: createProbers(config, logger) });
  const stack: Stack = {
    nats,
    testbed,
    controller,
    agent,
    config,
    async stop() {
      await stack.agent.stop();
      await stack.controller.stop();
      await testbed.stop();
      await nats.stop();
    },
  };
  return stack;
}
