/**
 * A real agent process with the real stream prober whose own event loop is made late on purpose: every
 * BUSY_EVERY_MS it spins for BUSY_BLOCK_MS (a busy loop inside the agent, as an overloaded host would do to
 * it). For the self-watch test (test/numbers.e2e.test.ts), which also pins it beside a CPU burner with
 * taskset. Config comes from the environment like `liveprobe agent`. Browser jobs get a stand-in.
 * BUSY_BLOCK_MS=0 turns the busy loop off (the test then stops the process with SIGSTOP on cue instead).
 *
 *   BUSY_BLOCK_MS=3500 BUSY_EVERY_MS=7000 node dist/agent/testing/busy-agent.js
 */
import { StreamProber } from '../../probes/stream/index.js';
import { loadConfig } from '../../shared/config.js';
import { EgressPolicy } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import { startAgent } from '../index.js';
import { StandInProber } from './stand-in.js';

const config = loadConfig();
const logger = createLogger('busy-agent', config.log.level);
const blockMs = Number(process.env.BUSY_BLOCK_MS ?? 3500);
const everyMs = Number(process.env.BUSY_EVERY_MS ?? 7000);
const agent = await startAgent({
  config,
  logger,
  probers: {
    browser: new StandInProber('browser'),
    stream: new StreamProber({ logger, egress: new EgressPolicy(config.egress.allow) }),
  },
});
// BUSY_BLOCK_MS=0: no busy loop (a test that makes the agent late by SIGSTOP instead).
const busy =
  blockMs > 0
    ? setInterval(() => {
        const until = Date.now() + blockMs;
        while (Date.now() < until) {
          // spinning: the point is to hold the event loop
        }
      }, everyMs)
    : undefined;
const onSignal = () => {
  clearInterval(busy);
  void agent.stop();
};
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);
await agent.stopped;
process.exit(0);
