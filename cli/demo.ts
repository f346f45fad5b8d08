import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startAgent } from '../agent/index.js';
import { startController } from '../controller/index.js';
import type { Sweep } from '../shared/api.js';
import { LOOPBACK_RULES } from '../shared/egress.js';
import type { Logger } from '../shared/log.js';
import { startTestbed } from '../testbed/index.js';
import { killDescendants, type NatsChild, startNatsServer } from './children.js';
import { type CommonFlags, setup, stopWithin } from './common.js';
import { formatSweep } from './format.js';
import { freeLoopbackPort } from './ports.js';
import { createProbers } from './probers.js';

export interface DemoFlags extends CommonFlags {
  port: number;
  duration: number;
  dataDir: string;
  /** Run the stack, the sweep, print, and exit (for scripted use). */
  once?: boolean;
}

/**
 * Everything on one machine: nats-server (unless NATS_URL is set), the testbed, the controller, one agent
 * in region "local"; registers the testbed as target "testbed", runs one browser sweep and prints it.
 */
export async function runDemo(flags: DemoFlags): Promise<void> {
  // Ctrl-C at any point (even mid start-up) stops what has started, children included, within 10 s.
  const stops: (() => Promise<void>)[] = [];
  let nats: NatsChild | undefined;
  let logger: Logger | undefined;
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => logger?.error({ err }, 'stop failed'));
    await nats?.stop();
  };
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C: no more waiting.
      killDescendants();
      process.exit(130);
    }
    stopping = true;
    process.stdout.write(`\n${sig}: stopping the demo...\n`);
    void stopWithin(
      async () => {
        await stopAll();
        process.stdout.write('demo stopped\n');
      },
      8500,
      () => process.stdout.write('demo stop took too long; killing what is left\n'),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const external = process.env.NATS_URL;
  const logFile = resolve(flags.dataDir, 'demo.log');
  const overrides: Record<string, unknown> = {
    'controller.port': flags.port,
    'agent.region': 'local',
    // The agent's spool lives with the rest of this demo's state: a new data dir starts empty.
    'agent.spoolDir': join(flags.dataDir, 'spool'),
  };
  if (!external) {
    const storeDir = join(flags.dataDir, 'nats');
    mkdirSync(storeDir, { recursive: true });
    // Even on loopback NATS takes a token (generated per run): another local user cannot join the fleet.
    // It reaches nats-server through its environment, not its command line (which any local user can read).
    // A letter first: nats-server parses a variable's value that starts with a digit as a number and fails.
    const token = `lp${randomBytes(24).toString('hex')}`;
    const configFile = join(flags.dataDir, 'nats.conf');
    writeFileSync(
      configFile,
      `jetstream { store_dir: ${JSON.stringify(storeDir)} }\nauthorization { token: $LIVEPROBE_DEMO_NATS_TOKEN }\n`,
      { mode: 0o600 },
    );
    nats = await startNatsServer({
      port: await freeLoopbackPort(),
      monitorPort: await freeLoopbackPort(),
      storeDir,
      configFile,
      env: { LIVEPROBE_DEMO_NATS_TOKEN: token },
    });
    overrides['nats.url'] = nats.url;
    overrides['nats.token'] = token;
  }
  // JSON logs go to a file; the terminal gets the banner, progress and the result.
  const setupResult = setup('liveprobe-demo', flags, overrides, logFile);
  const { config } = setupResult;
  logger = setupResult.logger;
  // The demo's testbed runs on this machine: loopback is opened on top of whatever egress.allow says.
  config.egress.allow = [...new Set([...config.egress.allow, ...LOOPBACK_RULES])];
  // stderr: the first line on stdout is the banner's page URL.
  process.stderr.write(`liveprobe demo: starting (logs: ${logFile})\n`);
  const testbed = await startTestbed({ port: 0, logger: logger.child({ component: 'testbed' }) });
  stops.push(() => testbed.stop());
  const controller = await startController({ config, logger });
  stops.push(() => controller.stop());
  const agent = await startAgent({ config, logger, probers: createProbers(config, logger) });
  stops.push(() => agent.stop());

  const stream = testbed.streams.find((s) => s.protocol === 'hls') ?? testbed.streams[0];
  if (!stream) throw new Error('testbed started without streams');
  await controller.targets.put({
    id: 'testbed',
    name: `liveprobe testbed (${stream.id})`,
    url: stream.url,
    protocol: stream.protocol,
    labels: { source: 'testbed' },
    expectations: {},
  });
  const sweep = await controller.sweeps.create({
    targets: ['testbed'],
    regions: ['local'],
    probe: 'browser',
    durationS: flags.duration,
    name: 'demo sweep',
  });
  const banner = [
    `Command center: ${controller.url}/`,
    '',
    'liveprobe demo is up:',
    `  API          ${controller.url}  (OpenAPI: ${controller.url}/openapi.json)`,
    `  sweep        ${controller.url}/v1/sweeps/${sweep.id}`,
    `  report       ${controller.url}/v1/sweeps/${sweep.id}/report?format=html`,
    `  results      ${controller.url}/v1/results?target=testbed`,
    `  agents       ${controller.url}/v1/agents`,
    `  testbed      ${testbed.url}/streams`,
    `  NATS         ${config.nats.url}${external ? ' (external)' : ''}`,
    `  logs         ${logFile}`,
    `  CLI          LIVEPROBE_URL=${controller.url} liveprobe sweep run --target testbed --region local --follow`,
    `Running a ${flags.duration} s browser sweep of target "testbed" in region "local"...`,
    '',
  ];
  process.stdout.write(`${banner.join('\n')}\n`);
  const done = await waitForSweep(controller.sweeps, sweep.id, controller.events);
  process.stdout.write(`${formatSweep(done)}\n`);
  if (flags.once) {
    stopping = true;
    await stopWithin(stopAll, 8500);
  }
  process.stdout.write('Ctrl-C stops every process of the demo.\n');
  // The signal handler ends the process.
  await new Promise(() => undefined);
}

async function waitForSweep(
  sweeps: { get(id: string): Sweep | undefined },
  id: string,
  events: import('../controller/events.js').EventBus,
): Promise<Sweep> {
  const current = sweeps.get(id);
  if (current?.state === 'done' || current?.state === 'cancelled') return current;
  await new Promise<void>((resolve) => {
    const onSweep = (s: { id: string; state: string }) => {
      if (s.id === id && (s.state === 'done' || s.state === 'cancelled')) {
        events.off('sweep', onSweep);
        resolve();
      }
    };
    events.on('sweep', onSweep);
  });
  return sweeps.get(id) as Sweep;
}
