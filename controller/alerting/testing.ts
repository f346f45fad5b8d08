/** Small builders for the stage tests (function fakes, no NATS). */
import type { SummaryGroup } from '../aggregate/aggregator.js';
import { Rule, type RuleInput } from './schema.js';
import type { SeriesRow } from './types.js';

export const rule = (over: Partial<RuleInput> & { id?: string } = {}): Rule =>
  Rule.parse({ id: 'r1', finding: 'playlist-stale', agg: 'count', ...over });

export function group(over: Partial<SummaryGroup> = {}): SummaryGroup {
  return {
    key: 'k',
    count: 10,
    outcomes: { ok: 10, degraded: 0, failed: 0, 'probe-error': 0 },
    success_ratio: 1,
    rebuffer_ratio: null,
    errors: { http: 0, network: 0, player: 0, conformance: 0 },
    metrics: {},
    findings: {},
    ...over,
  };
}

export const row = (
  target: string,
  region: string,
  over: Partial<SummaryGroup> = {},
  probe: SeriesRow['probe'] = 'stream',
): SeriesRow => ({ target, region, probe, summary: group(over) });
