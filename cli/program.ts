import { Command, Option } from 'commander';
import { VERSION } from '../shared/version.js';
import { int, setup, stopWithin, untilSignal } from './common.js';

// The services (and Chromium, ffmpeg, NATS clients) load only for the command that runs them: the operator
// commands start in a fraction of the time.
const agentModule = () => import('../agent/index.js');
const controllerModule = () => import('../controller/index.js');
const probersModule = () => import('./probers.js');

import { registerOperatorCommands } from './ops/commands.js';

/** The whole `liveprobe` command tree (cli/main.ts parses with it; scripts/docs-gen.ts documents it). */
export function buildProgram(): Command {
  const program = new Command('liveprobe')
    .description('Synthetic probe fleet and controller for live video (HLS/DASH)')
    .version(VERSION)
    // No -c short form: `silence add -c COMMENT` is amtool's, and program options are read after the command too.
    .option('--config <file>', 'config file (YAML or JSON); also LIVEPROBE_CONFIG')
    .option('--log-level <level>', 'trace|debug|info|warn|error (also LIVEPROBE_LOG_LEVEL)');

  program
    .command('demo')
    .description('nats-server + testbed + controller + one agent on this machine; runs one browser sweep')
    .option('--port <port>', 'controller API port', int, 8080)
    .option('--duration <s>', 'seconds the demo sweep plays the stream', int, 15)
    .option(
      '--data-dir <dir>',
      'state of this demo: the JetStream store, the agent spool, demo.log',
      '.liveprobe',
    )
    .option('--once', 'exit after printing the sweep instead of waiting for Ctrl-C')
    .action(async (opts) => (await import('./demo.js')).runDemo({ ...program.opts(), ...opts }));

  program
    .command('testbed')
    .description('live ffmpeg source with the in-frame clock, served by a fault-injecting origin')
    .option('--port <port>', 'origin port', int, 8090)
    .option('--host <host>', 'bind address', '127.0.0.1')
    .option('--scenario <file>', 'YAML timeline of faults to inject')
    .addOption(
      new Option('--ladder <ladder>', 'full ladder or one 360p rendition')
        .choices(['full', 'single'])
        .default('full'),
    )
    .action(async (opts) => {
      const { logger } = setup('liveprobe-testbed', program.opts());
      await (await import('../testbed/cli.js')).runTestbedCommand({ ...opts, logger });
    });

  program
    .command('controller')
    .description('ingest, aggregate and serve the API')
    .option('--port <port>', 'API port (LIVEPROBE_PORT)', int)
    .option('--host <host>', 'bind address (LIVEPROBE_HOST)')
    .action(async (opts) => {
      const { config, logger } = setup('liveprobe-controller', program.opts(), {
        'controller.port': opts.port,
        'controller.host': opts.host,
      });
      const controller = await (await controllerModule()).startController({ config, logger });
      await untilSignal();
      await stopWithin(
        () => controller.stop(),
        8000,
        () => logger.warn('stop took too long; exiting'),
      );
    });

  program
    .command('agent')
    .description('pull jobs of one region, run probes, publish reports')
    .option('--region <region>', 'region whose work queue this agent serves (LIVEPROBE_REGION)')
    .option('--id <id>', 'agent id (LIVEPROBE_AGENT_ID; default hostname + random suffix)')
    .action(async (opts) => {
      const { config, logger } = setup('liveprobe-agent', program.opts(), {
        'agent.region': opts.region,
        'agent.id': opts.id,
      });
      const { createProbers } = await probersModule();
      const agent = await (await agentModule()).startAgent({
        config,
        logger,
        probers: createProbers(config, logger),
      });
      await untilSignal();
      // Running jobs get the drain grace; the rest of the stop gets 8 s.
      await stopWithin(
        () => agent.stop(),
        config.agent.drainGraceS * 1000 + 8000,
        () => logger.warn('stop took too long; exiting'),
      );
    });

  program
    .command('probe')
    .description('run one probe locally (no NATS) and print its report')
    .argument('<url>', 'master playlist (.m3u8) or MPD (.mpd) URL')
    .addOption(new Option('--probe <kind>', 'probe kind').choices(['browser', 'stream']).default('browser'))
    .addOption(
      new Option('--protocol <protocol>', 'hls or dash (default: from the URL)').choices(['hls', 'dash']),
    )
    .option('--duration <s>', 'seconds to measure', int, 20)
    .option('--interval <s>', 'watch mode: print an interval report every N seconds', int)
    .option('--json', 'print the report as JSON')
    .option('--pin-height <px>', 'browser probe: play only the rendition of this height (ABR off)', int)
    .option('--max-height <px>', 'browser probe: let ABR choose among renditions up to this height', int)
    .action(async (url, opts) => {
      const code = await (await import('./probe.js')).runProbeCommand(url, { ...program.opts(), ...opts });
      process.exitCode = code;
    });

  program
    .command('inject')
    .description('paint the glass-to-glass clock strip into a live contribution feed and push it on')
    .requiredOption('--in <url>', 'input: srt://, udp://, rtp://, rtmp:// (MPEG-TS/FLV) or a file (looped)')
    .requiredOption('--out <url>', 'output: srt://, udp://, rtp:// (MPEG-TS), rtmp:// (FLV) or a file')
    .requiredOption('--id <n>', 'injector id 1..65535, painted into the strip and reported by probes')
    .option('--name <name>', 'injector name in heartbeats and metrics', 'injector')
    .option('--site <site>', 'where it runs (heartbeats)')
    .addOption(
      new Option('--corner <corner>', 'corner of the strip band')
        .choices(['top-left', 'top-right', 'bottom-left', 'bottom-right'])
        .default('bottom-left'),
    )
    .addOption(
      new Option('--size <fraction>', 'band width / frame width')
        .choices(['1', '0.5', '0.25'])
        .default('0.5'),
    )
    .option('--loop', 'loop a file input at its own rate (rehearsals)')
    .addOption(
      new Option(
        '--painter <painter>',
        'node: damaged pictures go on unpainted; ffmpeg: one process, cheaper',
      )
        .choices(['node', 'ffmpeg'])
        .default('ffmpeg'),
    )
    .option('--passthrough-on-error', 'if painting fails, carry the feed on unpainted instead of stopping it')
    .option('--preset <preset>', 'x264 preset of the re-encode (each step slower adds delay)', 'ultrafast')
    .option('--video-bitrate <bps>', 'video bitrate of the re-encode', int, 8_000_000)
    .option('--gop <frames>', 'GOP length (0 = x264 default)', int, 0)
    .option('--clock-offset-ms <ms>', 'host clock minus reference, when no controller is reachable', int)
    .option('--metrics-port <port>', 'serve Prometheus /metrics on this port', int)
    .option('--metrics-host <host>', 'bind address of /metrics', '127.0.0.1')
    .option('--heartbeat-s <s>', 'seconds between NATS heartbeats', Number, 5)
    .option(
      '--offset-refresh-s <s>',
      'seconds between clock offset re-measurements (applied while painting)',
      Number,
      60,
    )
    .option('--no-nats', 'no heartbeats and no clock offset measurement over NATS')
    .action(async (opts) => {
      const { config, logger } = setup('liveprobe-injector', program.opts());
      const { config: _c, logLevel: _l, ...flags } = { ...program.opts(), ...opts };
      process.exitCode = await (await import('../injector/cli.js')).runInjectCommand(flags, {
        config,
        logger,
        untilSignal,
      });
    });

  registerOperatorCommands(program);
  return program;
}
