/**
 * The fleet's chaos scenarios, run for real (nats-server, controller and agent processes killed by PID) and
 * tallied: for each, how many reports were expected, stored in JetStream ("published"), counted by the
 * controller ("ingested"), stored or counted more than once ("duplicated"), and never counted ("lost").
 *
 *   node dist/bench/chaos.js [--only agent-kill,nats-restart,controller-kill,chromium-kill,cluster]
 *
 * Last line: lost=<n> duplicated=<n> (summed over the scenarios).
 */

import type { ScenarioResult } from '../test/chaos/harness.js';
import {
  agentKill,
  chromiumKill,
  clusterNodeKill,
  controllerKill,
  natsRestart,
} from '../test/chaos/scenarios.js';

const SCENARIOS: Record<string, () => Promise<ScenarioResult>> = {
  'agent-kill': agentKill,
  'nats-restart': natsRestart,
  'controller-kill': () => controllerKill(),
  'chromium-kill': chromiumKill,
  cluster: clusterNodeKill,
};

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const only = arg('only')?.split(',');
const chosen = Object.keys(SCENARIOS).filter((k) => !only || only.includes(k));
const rows: ScenarioResult[] = [];
for (const key of chosen) {
  const t0 = Date.now();
  process.stderr.write(`chaos: ${key} ...\n`);
  try {
    const r = await (SCENARIOS[key] as () => Promise<ScenarioResult>)();
    rows.push(r);
    process.stderr.write(`chaos: ${key} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  } catch (err) {
    // A scenario that cannot finish counts everything it was meant to deliver as lost.
    process.stderr.write(`chaos: ${key} failed: ${(err as Error).stack}\n`);
    rows.push({
      scenario: `${key} (FAILED: ${(err as Error).message.slice(0, 80)})`,
      expected: 1,
      published: 0,
      ingested: 0,
      duplicated: 0,
      lost: 1,
      notes: [],
    });
  }
}

const header = ['scenario', 'expected', 'published', 'ingested', 'duplicated', 'lost'];
const table = rows.map((r) => [
  r.scenario,
  String(r.expected),
  String(r.published),
  String(r.ingested),
  String(r.duplicated),
  String(r.lost),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
console.log(line(header));
for (const row of table) console.log(line(row));
console.log('');
for (const r of rows) for (const n of r.notes) console.log(`${r.scenario}: ${n}`);
console.log('');
const lost = rows.reduce((n, r) => n + r.lost, 0);
const duplicated = rows.reduce((n, r) => n + r.duplicated, 0);
console.log(`lost=${lost} duplicated=${duplicated}`);
process.exit(0);
