/**
 * A stand-in agent fleet for `npm run bench:scale`: one process plays the agents of several regions, each
 * region watching every target, and ships realistic reports (bench/report-fixture.ts) through the agents'
 * own publisher (agent/publisher.ts: validation, Nats-Msg-Id dedup, JetStream acks) on the agents' subjects.
 *
 *   node dist/bench/scale-agent.js <nats url> <prefix> <tag> <first region> <regions> <targets> <live rate/s> [passes]
 *
 * First `passes` (1) priming passes, as fast as JetStream takes them: each one report per target x region
 * (the fleet's full cardinality; the first opens every series, the next ones report into series that
 * exist, as a fleet does all night), then `primed <n>` on stdout; then reports at the live rate
 * (round-robin over the series) until SIGTERM. Region r is `r<r>` with agent `agent-r<r>`; target t is `t<t>`.
 */
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamPublisher } from '../agent/publisher.js';
import { createLogger } from '../shared/log.js';
import { names } from '../shared/subjects.js';
import { fleetReport } from './report-fixture.js';

/** Publishes in flight at once: enough to keep JetStream busy without queueing seconds of reports. */
const IN_FLIGHT = 256;

async function main(): Promise<void> {
  const [url, prefix, tag, firstArg, regionsArg, targetsArg, rateArg, passesArg] = process.argv.slice(2);
  if (!url || !prefix || !tag || !firstArg || !regionsArg || !targetsArg || !rateArg) {
    throw new Error('usage: scale-agent <nats url> <prefix> <tag> <first region> <regions> <targets> <rate>');
  }
  const first = Number(firstArg);
  const regions = Number(regionsArg);
  const targets = Number(targetsArg);
  const rate = Number(rateArg);
  const passes = Number(passesArg ?? 1);
  const nc = await connect({ servers: url, name: 'liveprobe-bench-scale-agent' });
  const publisher = new JetStreamPublisher({
    js: jetstream(nc),
    names: names(prefix),
    logger: createLogger('bench-scale-agent', 'error'),
  });
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
  });
  const series = regions * targets;
  const inFlight = new Set<Promise<unknown>>();
  const send = async (i: number, n: number) => {
    const p = publisher.publish(fleetReport(tag, first + (i % regions), Math.floor(i / regions), n));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  };
  for (let pass = 0; pass < passes; pass++) {
    for (let i = 0; i < series && !stopping; i++) await send(i, pass);
  }
  await Promise.all(inFlight);
  process.stdout.write(`primed ${series * passes}\n`);
  // Live: `rate` reports a second in 100 ms ticks, round-robin over the series.
  let i = 0;
  let n = passes;
  const t0 = Date.now();
  let sent = 0;
  while (!stopping) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate);
    while (sent < due && !stopping) {
      await send(i, n);
      sent++;
      if (++i === series) {
        i = 0;
        n++;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(inFlight);
  await nc.close();
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`scale-agent failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
