/**
 * A real agent process with stand-in probers, for chaos tests that kill -9 an agent (test/chaos/).
 * Config comes from the environment like `liveprobe agent` (NATS_URL, LIVEPROBE_REGION, LIVEPROBE_AGENT_ID,
 * LIVEPROBE_SPOOL_DIR, ...). Exits after a graceful stop on SIGTERM/SIGINT or a control `stop` request.
 *
 *   node dist/agent/testing/stand-in-agent.js
 */
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/log.js';
import { startAgent } from '../index.js';
import { StandInProber } from './stand-in.js';

const config = loadConfig();
const logger = createLogger('stand-in-agent', config.log.level);
const agent = await startAgent({
  config,
  logger,
  probers: { browser: new StandInProber('browser'), stream: new StandInProber('stream') },
});
const onSignal = () => void agent.stop();
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);
await agent.stopped;
process.exit(0);
