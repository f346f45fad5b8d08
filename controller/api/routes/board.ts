import { z } from 'zod';
import { Outcome } from '../../../shared/schemas.js';
import { finish, SKETCHED, type SummaryGroup } from '../../aggregate/aggregator.js';
import type { App, Services } from '../server.js';
import { PartialFields, partialOf } from './summary.js';

const Quantiles = z.object({ p50: z.number(), p95: z.number(), p99: z.number(), count: z.number() });
const WindowFigures = z.object({
  count: z.number(),
  outcomes: z.object({ ok: z.number(), degraded: z.number(), failed: z.number(), 'probe-error': z.number() }),
  success_ratio: z.number().nullable(),
  rebuffer_ratio: z.number().nullable(),
  metrics: z.partialRecord(z.enum(SKETCHED), Quantiles),
  findings: z.record(z.string(), z.number()),
});
const ReportLine = z.object({
  id: z.string(),
  at: z.string(),
  agentId: z.string(),
  probe: z.string(),
  outcome: Outcome,
  reasons: z.array(z.string()),
  findings: z.array(z.string()),
  startup_ms: z.number().optional(),
  g2g_ms: z.number().optional(),
});
const Cell = z.object({
  target: z.string(),
  region: z.string(),
  w1m: WindowFigures.nullable(),
  w5m: WindowFigures,
  /** Newest first. */
  latest: z.array(ReportLine),
});

/**
 * The command-center board in one read: every target x region with reports in the last 5 minutes, its
 * 1m and 5m window figures and its last reports. Targets without data are listed too (the page shows
 * them as "no data").
 */
export const boardRoutes = (s: Services) => async (app: App) => {
  app.get(
    '/v1/board',
    {
      schema: {
        description:
          'Every target x region with its 1m/5m window figures and last reports (the command-center board).',
        response: {
          200: z.object({
            at: z.string(),
            targets: z.array(
              z.object({
                id: z.string(),
                name: z.string().optional(),
                labels: z.record(z.string(), z.string()),
              }),
            ),
            regions: z.array(z.string()),
            cells: z.array(Cell),
            ...PartialFields,
          }),
        },
      },
    },
    async () => {
      const slim = ({
        key: _k,
        errors: _e,
        ...g
      }: ReturnType<typeof s.aggregator.cells>[number]['summary']) => g;
      const fleet = s.cluster ? await clusterCells(s.cluster) : undefined;
      const w1 = new Map(
        (fleet?.w1m ?? s.aggregator.cells('1m')).map((c) => [`${c.target}/${c.region}`, c.summary]),
      );
      const cells = (fleet?.w5m ?? s.aggregator.cells('5m')).map((c) => {
        const one = w1.get(`${c.target}/${c.region}`);
        return {
          target: c.target,
          region: c.region,
          w1m: one ? slim(one) : null,
          w5m: slim(c.summary),
          latest: fleet
            ? (fleet.latest.get(`${c.target}\u0000${c.region}`) ?? [])
            : s.latest.get(c.target, c.region),
        };
      });
      const regions = new Set(cells.map((c) => c.region));
      for (const r of s.fleet.regions()) regions.add(r.region);
      return {
        at: new Date().toISOString(),
        targets: s.targets.list().map((t) => ({ id: t.id, name: t.name, labels: t.labels })),
        regions: [...regions].sort(),
        cells,
        ...partialOf(fleet?.missing ?? []),
      };
    },
  );
};

type CellSummary = { target: string; region: string; summary: SummaryGroup };

/** The board's cells over the whole fleet: 1m and 5m accumulators and last reports from every partition. */
async function clusterCells(cluster: NonNullable<Services['cluster']>) {
  const [one, five] = await Promise.all([
    cluster.summaryBuckets({ window: '1m', groupBy: 'target' }, 'cell'),
    cluster.summaryBuckets({ window: '5m', groupBy: 'target' }, 'cell'),
  ]);
  const cellsOf = (acc: typeof one.value): CellSummary[] =>
    finish(acc).map((g) => {
      const [target = '', region = ''] = g.key.split('\u0000');
      return { target, region, summary: { ...g, key: `${target}/${region}` } };
    });
  const latest = await cluster.latest([...five.value.keys()]);
  const missing = [...new Set([...one.missing, ...five.missing, ...latest.missing])].sort();
  return { w1m: cellsOf(one.value), w5m: cellsOf(five.value), latest: latest.value, missing };
}
