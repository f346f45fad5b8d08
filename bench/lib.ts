import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsChild, startNatsServer } from '../cli/children.js';
import { freeLoopbackPort } from '../cli/ports.js';

/** A throwaway nats-server with JetStream for one benchmark run. */
export async function benchNats(): Promise<NatsChild & { cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lp-bench-nats-'));
  const nats = await startNatsServer({ port: await freeLoopbackPort(), storeDir: dir });
  return {
    ...nats,
    async cleanup() {
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Prints rows as an aligned table. */
export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as object);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i] as number)).join('  ');
  process.stdout.write(`${line(cols)}\n${line(width.map((w) => '-'.repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line(cols.map((c) => String(r[c] ?? '')))}\n`);
}
