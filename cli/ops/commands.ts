import { type Command, Option } from 'commander';
import { stringify } from 'yaml';
import type { Target } from '../../shared/schemas.js';
import { int } from '../common.js';
import { ApiClient } from './client.js';
import { resolveConnection } from './context.js';
import { CliError, EXIT } from './exit.js';
import { applyPlan, fleetJsonSchema, formatPlan, loadFleet, plan } from './fleet.js';
import { ago, type OutputFormat, print } from './output.js';
import { parseMatcher } from './silence.js';
import { sweepCancel, sweepGet, sweepLs, sweepReport, sweepRun } from './sweep.js';

/**
 * The operator commands: they talk to a controller over its API (--url/--token, LIVEPROBE_URL/LIVEPROBE_TOKEN
 * or a context of ~/.config/liveprobe/config.yaml). Each action returns its exit code (cli/ops/exit.ts).
 */

interface ConnFlags {
  url?: string;
  token?: string;
  context?: string;
  output: OutputFormat;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --url/--token/--context on a leaf command, plus -o for commands that print data. */
function conn(cmd: Command, output = true): Command {
  cmd
    .option(
      '--url <url>',
      'controller API URL (LIVEPROBE_URL; default: current context, else http://127.0.0.1:8080)',
    )
    .option('--token <token>', 'API bearer token (LIVEPROBE_TOKEN)')
    .option('--context <name>', 'a context of ~/.config/liveprobe/config.yaml (LIVEPROBE_CONTEXT)');
  if (output)
    cmd.addOption(
      new Option('-o, --output <format>', 'output format')
        .choices(['table', 'json', 'yaml'])
        .default('table'),
    );
  return cmd;
}

/** Runs an action and turns its result (or a CliError) into the exit code. */
function run<A extends unknown[]>(fn: (api: ApiClient, ...args: A) => Promise<number>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const flags = cmd.opts() as ConnFlags;
    const api = new ApiClient(resolveConnection(flags));
    process.exitCode = await fn(api, ...(args.slice(0, -1) as A));
  };
}

export function registerOperatorCommands(program: Command): void {
  // ---------------------------------------------------------------- fleet as code
  conn(program.command('apply'), false)
    .description('make the controller match a fleet file (targets, schedules, watches, rules, silences)')
    .requiredOption('-f, --file <path>', 'fleet YAML file or directory of them (repeatable)', collect)
    .option('--prune', 'also delete what the controller has and the files do not declare')
    .option('--dry-run', 'print the plan, change nothing')
    .action(
      run(async (api, opts: { file: string[]; prune?: boolean; dryRun?: boolean }) => {
        const changes = await plan(api, loadFleet(opts.file), Boolean(opts.prune));
        process.stdout.write(`${formatPlan(changes)}\n`);
        if (opts.dryRun || changes.length === 0) return EXIT.go;
        process.stdout.write('\n');
        await applyPlan(changes);
        return EXIT.go;
      }),
    );
  conn(program.command('diff'), false)
    .description('show what `apply` would change (exit 0: no changes, 1: changes)')
    .requiredOption('-f, --file <path>', 'fleet YAML file or directory of them (repeatable)', collect)
    .option('--prune', 'include deletions of what the files do not declare')
    .action(
      run(async (api, opts: { file: string[]; prune?: boolean }) => {
        const changes = await plan(api, loadFleet(opts.file), Boolean(opts.prune));
        process.stdout.write(`${formatPlan(changes)}\n`);
        return changes.length ? 1 : 0;
      }),
    );
  program
    .command('fleet-schema')
    .description('print the JSON Schema of the fleet file (generated from the API schemas)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(fleetJsonSchema(), null, 2)}\n`);
    });

  // ---------------------------------------------------------------- sweeps
  const sweep = program.command('sweep').description('readiness sweeps: run, list, inspect, cancel, report');
  conn(sweep.command('run'))
    .description(
      'probe targets in regions now; with --follow wait for the GO / WARN / NO-GO verdict (exit 0/1/2)',
    )
    .option('--target <id>', 'target id (repeatable)', collect)
    .option('-l, --selector <selector>', 'targets by label, e.g. cdn=akamai,event=final')
    .option('--region <region>', 'region (repeatable)', collect)
    .option('--all-regions', 'every region with an online agent')
    .addOption(new Option('--probe <kind>', 'probe kind').choices(['browser', 'stream']).default('browser'))
    .option('--duration <s>', 'seconds each probe plays', int, 30)
    .option('--name <name>', 'a name people recognise')
    .option('--event <event>', 'the event this sweep is for')
    .option('--allow-missing-regions', 'a region without a report is WARN instead of NO-GO')
    .option('--follow', 'wait for the result: progress per region, then the verdict table')
    .action(run((api, opts) => sweepRun(api, opts as Parameters<typeof sweepRun>[1])));
  conn(sweep.command('ls'))
    .description('list sweeps, newest first')
    .action(run((api, opts: ConnFlags) => sweepLs(api, opts.output)));
  conn(sweep.command('get'))
    .description('one sweep with its verdict (exit 0/1/2 by verdict once done)')
    .argument('<id>')
    .action(run((api, id: string, opts: ConnFlags) => sweepGet(api, id, opts.output)));
  conn(sweep.command('cancel'))
    .description('cancel a sweep: queued jobs dropped, running ones stopped')
    .argument('<id>')
    .action(run((api, id: string, opts: ConnFlags) => sweepCancel(api, id, opts.output)));
  conn(sweep.command('baseline'), false)
    .description('mark a finished sweep as the baseline later sweeps of its targets compare with')
    .argument('<id>')
    .action(
      run(async (api, id: string) => {
        await api.request('POST', `/v1/sweeps/${encodeURIComponent(id)}/baseline`);
        process.stdout.write(`sweep ${id} is now the baseline\n`);
        return EXIT.go;
      }),
    );
  conn(sweep.command('report'), false)
    .description('the readiness report of a sweep (markdown, self-contained HTML or JSON) on stdout')
    .argument('<id>')
    .addOption(new Option('--format <format>', 'report format').choices(['md', 'html', 'json']).default('md'))
    .option('--pivot <label>', "add a table with this label's values side by side (e.g. cdn)")
    .action(
      run((api, id: string, opts: { format: 'md' | 'html' | 'json'; pivot?: string }) =>
        sweepReport(api, id, opts),
      ),
    );

  // ---------------------------------------------------------------- targets
  const targets = program.command('targets').description('registered targets');
  const targetCols = [
    { header: 'id', value: (t: Target) => t.id },
    { header: 'protocol', value: (t: Target) => t.protocol },
    {
      header: 'labels',
      value: (t: Target) =>
        Object.entries(t.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
    },
    { header: 'url', value: (t: Target) => t.url },
  ];
  conn(targets.command('ls'))
    .description('list targets')
    .option('-l, --selector <selector>', 'only targets whose labels match')
    .action(
      run(async (api, opts: ConnFlags & { selector?: string }) => {
        let list = await api.get<Target[]>('/v1/targets');
        if (opts.selector) {
          const { parseSelector } = await import('../../controller/sweeps.js');
          const match = parseSelector(opts.selector);
          list = list.filter((t) => match(t.labels));
        }
        print(list, opts.output, targetCols);
        return EXIT.go;
      }),
    );
  conn(targets.command('get'))
    .argument('<id>')
    .description('one target')
    .action(
      run(async (api, id: string, opts: ConnFlags) => {
        const t = await api.get<Target>(`/v1/targets/${encodeURIComponent(id)}`);
        print(t, opts.output === 'table' ? 'yaml' : opts.output, []);
        return EXIT.go;
      }),
    );
  conn(targets.command('rm'), false)
    .argument('<id>')
    .description('delete a target')
    .action(
      run(async (api, id: string) => {
        await api.request('DELETE', `/v1/targets/${encodeURIComponent(id)}`);
        process.stdout.write(`target ${id} deleted\n`);
        return EXIT.go;
      }),
    );

  // ---------------------------------------------------------------- watches
  const watch = program.command('watch').description('continuous probes (watches)');
  type WatchView = {
    id: string;
    target: unknown;
    regions: string[];
    probe: string;
    intervalS: number;
    enabled: boolean;
  };
  conn(watch.command('ls'))
    .description('list watches')
    .action(
      run(async (api, opts: ConnFlags) => {
        print(await api.get<WatchView[]>('/v1/watches'), opts.output, [
          { header: 'id', value: (w) => w.id },
          {
            header: 'target',
            value: (w) => (typeof w.target === 'string' ? w.target : JSON.stringify(w.target)),
          },
          { header: 'regions', value: (w) => w.regions.join(',') },
          { header: 'probe', value: (w) => w.probe },
          { header: 'every', value: (w) => `${w.intervalS}s` },
          { header: 'enabled', value: (w) => String(w.enabled) },
        ]);
        return EXIT.go;
      }),
    );
  conn(watch.command('rm'), false)
    .argument('<id>')
    .description('stop and delete a watch')
    .action(
      run(async (api, id: string) => {
        await api.request('DELETE', `/v1/watches/${encodeURIComponent(id)}`);
        process.stdout.write(`watch ${id} deleted\n`);
        return EXIT.go;
      }),
    );

  // ---------------------------------------------------------------- alerts and silences
  const alerts = program.command('alerts').description('alerts');
  type AlertView = {
    id?: string;
    fingerprint?: string;
    rule?: string;
    state: string;
    severity?: string;
    labels?: Record<string, string>;
    startsAt?: string;
    since?: string;
    summary?: string;
  };
  conn(alerts.command('ls'))
    .description('list current alerts')
    .action(
      run(async (api, opts: ConnFlags) => {
        const body = await api.get<AlertView[] | { alerts: AlertView[] }>('/v1/alerts');
        const list = Array.isArray(body) ? body : body.alerts;
        print(list, opts.output, [
          { header: 'state', value: (a) => a.state },
          { header: 'alertname', value: (a) => a.labels?.alertname ?? a.rule ?? '' },
          { header: 'severity', value: (a) => a.severity ?? a.labels?.severity ?? '' },
          { header: 'target', value: (a) => a.labels?.target ?? '' },
          { header: 'since', value: (a) => ago(a.startsAt ?? a.since) },
          { header: 'id', value: (a) => a.id ?? a.fingerprint ?? '' },
        ]);
        return EXIT.go;
      }),
    );
  const silence = program.command('silence').description('silences (amtool-style matchers)');
  conn(silence.command('add'))
    .description(
      "mute alerts: liveprobe silence add target=ch1 'alertname=~stream-.*' --duration 2h -c 'planned switch'",
    )
    .argument('<matchers...>', 'name=value, name!=value, name=~regex, name!~regex')
    .option('-d, --duration <duration>', 'how long (e.g. 30m, 2h)', '1h')
    .option('-c, --comment <text>', 'why (required)')
    .option('--author <name>', 'who (used when the API runs without tokens)')
    .action(
      run(
        async (
          api,
          matchers: string[],
          opts: ConnFlags & { duration: string; comment?: string; author?: string },
        ) => {
          if (!opts.comment) throw new CliError('silence add: -c/--comment is required', EXIT.usage);
          const body = {
            matchers: matchers.map(parseMatcher),
            duration: opts.duration,
            comment: opts.comment,
            created_by: opts.author,
          };
          const { body: created } = await api.request<{ id: string; ends_at: string }>(
            'POST',
            '/v1/silences',
            body,
          );
          if (opts.output === 'table') process.stdout.write(`${created.id} (until ${created.ends_at})\n`);
          else print(created, opts.output, []);
          return EXIT.go;
        },
      ),
    );
  type SilenceRow = {
    id: string;
    status: string;
    matchers: { name: string; value: string; is_regex: boolean; is_equal: boolean }[];
    ends_at: string;
    created_by: string;
    comment: string;
  };
  conn(silence.command('ls'))
    .description('list silences')
    .option('--expired', 'include expired ones')
    .action(
      run(async (api, opts: ConnFlags & { expired?: boolean }) => {
        const list = (await api.get<SilenceRow[]>('/v1/silences')).filter(
          (s) => opts.expired || s.status !== 'expired',
        );
        print(list, opts.output, [
          { header: 'id', value: (s) => s.id },
          { header: 'status', value: (s) => s.status },
          {
            header: 'matchers',
            value: (s) =>
              s.matchers
                .map(
                  (m) =>
                    `${m.name}${m.is_regex ? (m.is_equal ? '=~' : '!~') : m.is_equal ? '=' : '!='}${m.value}`,
                )
                .join(' '),
          },
          { header: 'ends', value: (s) => s.ends_at },
          { header: 'by', value: (s) => s.created_by },
          { header: 'comment', value: (s) => s.comment },
        ]);
        return EXIT.go;
      }),
    );
  conn(silence.command('expire'), false)
    .argument('<id...>')
    .description('end silences now')
    .action(
      run(async (api, ids: string[]) => {
        for (const id of ids) {
          await api.request('DELETE', `/v1/silences/${encodeURIComponent(id)}`);
          process.stdout.write(`silence ${id} expired\n`);
        }
        return EXIT.go;
      }),
    );

  // ---------------------------------------------------------------- agents
  const agents = program.command('agents').description('the probe fleet');
  type AgentRow = {
    agentId: string;
    region: string;
    status: string;
    lastSeen: string;
    heartbeat: {
      version: string;
      draining: boolean;
      capacity: Record<string, number>;
      running: Record<string, number>;
      clockOffsetMs?: number;
    };
  };
  conn(agents.command('ls'))
    .description('list agents')
    .action(
      run(async (api, opts: ConnFlags) => {
        print(await api.get<AgentRow[]>('/v1/agents'), opts.output, [
          { header: 'agent', value: (a) => a.agentId },
          { header: 'region', value: (a) => a.region },
          {
            header: 'status',
            value: (a) => (a.heartbeat.draining && a.status === 'online' ? 'draining' : a.status),
          },
          {
            header: 'browser',
            value: (a) => `${a.heartbeat.running.browser ?? 0}/${a.heartbeat.capacity.browser ?? 0}`,
          },
          {
            header: 'stream',
            value: (a) => `${a.heartbeat.running.stream ?? 0}/${a.heartbeat.capacity.stream ?? 0}`,
          },
          {
            header: 'clock offset',
            value: (a) =>
              a.heartbeat.clockOffsetMs === undefined ? '' : `${Math.round(a.heartbeat.clockOffsetMs)} ms`,
          },
          { header: 'version', value: (a) => a.heartbeat.version },
          { header: 'seen', value: (a) => ago(a.lastSeen) },
        ]);
        return EXIT.go;
      }),
    );
  for (const action of ['drain', 'resume'] as const) {
    conn(agents.command(action))
      .argument('<id>')
      .description(action === 'drain' ? 'stop taking jobs (running ones finish)' : 'take jobs again')
      .action(
        run(async (api, id: string, opts: ConnFlags) => {
          const { body } = await api.request<{ agentId: string; draining: boolean; jobs: string[] }>(
            'POST',
            `/v1/agents/${encodeURIComponent(id)}/${action}`,
          );
          if (opts.output === 'table')
            process.stdout.write(
              `agent ${body.agentId}: ${body.draining ? 'draining' : 'taking jobs'}, ${body.jobs.length} running\n`,
            );
          else print(body, opts.output, []);
          return EXIT.go;
        }),
      );
  }

  // ---------------------------------------------------------------- receivers
  const receivers = program.command('receivers').description('alert receivers (from the alerting file)');
  conn(receivers.command('ls'))
    .description('list receivers')
    .action(
      run(async (api, opts: ConnFlags) => {
        const list = await api.get<{ name: string; kind: string; enabled?: boolean }[]>('/v1/receivers');
        print(list, opts.output, [
          { header: 'name', value: (r) => r.name },
          { header: 'kind', value: (r) => r.kind },
          { header: 'enabled', value: (r) => (r.enabled === undefined ? '' : String(r.enabled)) },
        ]);
        return EXIT.go;
      }),
    );
  conn(receivers.command('test'))
    .argument('<name>')
    .description('send a test notification through a receiver')
    .action(
      run(async (api, name: string, opts: ConnFlags) => {
        const { body } = await api.request<{ ok: boolean; message?: string }>(
          'POST',
          `/v1/receivers/${encodeURIComponent(name)}/test`,
        );
        if (opts.output === 'table')
          process.stdout.write(`${name}: ${body.ok ? 'delivered' : `failed: ${body.message ?? ''}`}\n`);
        else print(body, opts.output, []);
        return body.ok ? EXIT.go : EXIT.couldNotRun;
      }),
    );
  // Shown by `liveprobe config-example`: the shape of ~/.config/liveprobe/config.yaml.
  program
    .command('config-example')
    .description('print an example ~/.config/liveprobe/config.yaml (contexts)')
    .action(() => {
      process.stdout.write(
        stringify({
          'current-context': 'staging',
          contexts: [
            { name: 'staging', url: 'https://liveprobe.staging.example.com', token: 'REPLACE-ME' },
            { name: 'local', url: 'http://127.0.0.1:8080' },
          ],
        }),
      );
    });
}
