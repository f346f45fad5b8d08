import cliProgress from 'cli-progress';
import type { Sweep, VerdictCell, VerdictLevel } from '../../shared/api.js';
import type { ApiClient } from './client.js';
import { CliError, EXIT } from './exit.js';
import { ago, type Column, type OutputFormat, print, table } from './output.js';

export const VERDICT_EXIT: Record<VerdictLevel, number> = {
  go: EXIT.go,
  warn: EXIT.warn,
  'no-go': EXIT.noGo,
};
const LABEL: Record<VerdictLevel, string> = { go: 'GO', warn: 'WARN', 'no-go': 'NO-GO' };

export interface SweepRunFlags {
  target?: string[];
  selector?: string;
  region?: string[];
  allRegions?: boolean;
  probe: 'browser' | 'stream';
  duration: number;
  name?: string;
  event?: string;
  allowMissingRegions?: boolean;
  follow?: boolean;
  output: OutputFormat;
}

interface Accepted {
  id: string;
  jobs: number;
  regions: string[];
  capacity: {
    region: string;
    jobs: number;
    agents: number;
    freeSlots: number;
    expectedWaitS: number | null;
  }[];
}

const err = process.stderr;

export async function sweepRun(api: ApiClient, f: SweepRunFlags): Promise<number> {
  if (!f.target?.length && !f.selector)
    throw new CliError('sweep run: give --target ID (repeatable) or -l SELECTOR', EXIT.usage);
  if (!f.region?.length && !f.allRegions)
    throw new CliError('sweep run: give --region R (repeatable) or --all-regions', EXIT.usage);
  if (f.region?.length && f.allRegions)
    throw new CliError('sweep run: --region and --all-regions exclude each other', EXIT.usage);
  const { body: acc } = await api.request<Accepted>('POST', '/v1/sweeps', {
    targets: f.target ?? [],
    selector: f.selector,
    regions: f.allRegions ? ['*'] : f.region,
    probe: f.probe,
    durationS: f.duration,
    name: f.name,
    event: f.event,
    allowMissingRegions: f.allowMissingRegions ?? false,
  });
  err.write(`sweep ${acc.id}: ${acc.jobs} job(s) in ${acc.regions.join(', ')}\n`);
  for (const c of acc.capacity) {
    const wait =
      c.expectedWaitS === null
        ? 'no agent online: jobs wait for one'
        : c.expectedWaitS === 0
          ? 'all start now'
          : `~${c.expectedWaitS} s wait`;
    err.write(
      `  ${c.region}: ${c.jobs} job(s), ${c.freeSlots} free slot(s) on ${c.agents} agent(s); ${wait}\n`,
    );
  }
  if (!f.follow) {
    if (f.output !== 'table') print(acc, f.output, []);
    else process.stdout.write(`${acc.id}\n`);
    return EXIT.go;
  }
  const done = await follow(api, acc.id);
  return showResult(done, f.output);
}

/** Polls the sweep until it is done or cancelled, drawing progress on stderr; rides out a controller restart. */
export async function follow(
  api: ApiClient,
  id: string,
  opts: { giveUpAfterMs?: number } = {},
): Promise<Sweep> {
  const tty = Boolean(process.stderr.isTTY);
  const bars = tty
    ? new cliProgress.MultiBar(
        {
          format: ' {region} [{bar}] {value}/{total} reports  {status}',
          hideCursor: true,
          clearOnComplete: false,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const barOf = new Map<string, cliProgress.SingleBar>();
  const last = new Map<string, number>();
  let unreachableSince: number | undefined;
  const onSig = () => {
    bars?.stop();
    err.write(
      `\nstopped following; the sweep goes on (liveprobe sweep get ${id}, liveprobe sweep cancel ${id})\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onSig);
  try {
    for (;;) {
      let s: Sweep;
      try {
        s = await api.get<Sweep>(`/v1/sweeps/${encodeURIComponent(id)}`);
        unreachableSince = undefined;
      } catch (e) {
        // A controller restarting mid-sweep is not the end of the sweep: keep asking for a while.
        if (!(e instanceof CliError) || e.code !== EXIT.couldNotRun || /: 404 /.test(e.message)) throw e;
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > (opts.giveUpAfterMs ?? 180_000)) throw e;
        if (!tty) err.write(`controller unreachable, retrying: ${e.message}\n`);
        await sleep(2000);
        continue;
      }
      for (const [region, p] of Object.entries(s.perRegion)) {
        const status = `ok ${p.ok} degraded ${p.degraded} failed ${p.failed} probe-error ${p.probeError}${p.missing ? ` missing ${p.missing}` : ''}`;
        if (bars) {
          let b = barOf.get(region);
          if (!b) {
            b = bars.create(p.expected, 0, { region: region.padEnd(12), status });
            barOf.set(region, b);
          }
          b.update(p.received, { status });
        } else if (last.get(region) !== p.received) {
          last.set(region, p.received);
          err.write(`${region}: ${p.received}/${p.expected} reports (${status})\n`);
        }
      }
      if (s.state === 'done' || s.state === 'cancelled') return s;
      await sleep(1000);
    }
  } finally {
    bars?.stop();
    process.off('SIGINT', onSig);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cellColumns: Column<VerdictCell>[] = [
  { header: 'target', value: (c) => c.target },
  { header: 'region', value: (c) => c.region },
  { header: 'verdict', value: (c) => `${LABEL[c.verdict]}${c.inconclusive ? ' (inconclusive)' : ''}` },
  { header: 'reasons', value: (c) => c.reasons.join('; ') },
];

/** The verdict table (or the sweep as json/yaml) on stdout; the exit code says go / warn / no-go. */
export function showResult(s: Sweep, output: OutputFormat): number {
  const verdict = s.verdict ?? 'no-go';
  if (output !== 'table') print(s, output, []);
  else {
    const tty = Boolean(process.stdout.isTTY);
    const head = `${LABEL[verdict]}  sweep ${s.name ? `"${s.name}" ` : ''}${s.id} (${s.state}, ${s.received}/${s.expected} reports)`;
    process.stdout.write(`${tty ? colour(verdict, head) : head}\n`);
    process.stdout.write(`${table(s.cells ?? [], cellColumns, tty)}\n`);
  }
  return VERDICT_EXIT[verdict];
}

function colour(v: VerdictLevel, text: string): string {
  const c = v === 'go' ? 32 : v === 'warn' ? 33 : 31;
  return `\u001b[1;${c}m${text}\u001b[0m`;
}

const sweepColumns: Column<Sweep>[] = [
  { header: 'id', value: (s) => s.id },
  { header: 'name', value: (s) => s.name ?? '' },
  { header: 'event', value: (s) => s.event ?? '' },
  { header: 'state', value: (s) => s.state },
  { header: 'verdict', value: (s) => (s.verdict ? LABEL[s.verdict] : '') },
  { header: 'reports', value: (s) => `${s.received}/${s.expected}` },
  { header: 'by', value: (s) => s.author },
  { header: 'created', value: (s) => ago(s.createdAt) },
];

export async function sweepLs(api: ApiClient, output: OutputFormat): Promise<number> {
  print(await api.get<Sweep[]>('/v1/sweeps'), output, sweepColumns);
  return EXIT.go;
}

export async function sweepGet(api: ApiClient, id: string, output: OutputFormat): Promise<number> {
  const s = await api.get<Sweep>(`/v1/sweeps/${encodeURIComponent(id)}`);
  if (s.state !== 'done' && s.state !== 'cancelled' && output === 'table') {
    print(s, output, sweepColumns);
    process.stdout.write(`(provisional verdict, the sweep is ${s.state})\n`);
    process.stdout.write(`${table(s.cells ?? [], cellColumns, Boolean(process.stdout.isTTY))}\n`);
    return EXIT.go;
  }
  return showResult(s, output);
}

export async function sweepCancel(api: ApiClient, id: string, output: OutputFormat): Promise<number> {
  const { body } = await api.request<Sweep>('DELETE', `/v1/sweeps/${encodeURIComponent(id)}`);
  if (output === 'table')
    process.stdout.write(`sweep ${body.id} ${body.state} (${body.received}/${body.expected} reports in)\n`);
  else print(body, output, []);
  return EXIT.go;
}

export async function sweepReport(
  api: ApiClient,
  id: string,
  f: { format: 'md' | 'html' | 'json'; pivot?: string },
): Promise<number> {
  const q = new URLSearchParams({ format: f.format });
  if (f.pivot) q.set('pivot', f.pivot);
  const { body } = await api.request<unknown>('GET', `/v1/sweeps/${encodeURIComponent(id)}/report?${q}`);
  process.stdout.write(typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`);
  return EXIT.go;
}
