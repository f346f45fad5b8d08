import { describe, expect, it } from 'vitest';
import { evaluate, regionValue, thresholdFor } from './evaluate.js';
import { group, row, rule } from './testing.js';

describe('evaluate', () => {
  it('counts findings per region and compares with the threshold', () => {
    const rows = [
      row('ch1', 'eu', { findings: { 'playlist-stale': 2 } }),
      row('ch1', 'us', {}),
      row('ch2', 'eu', { findings: { 'pdt-drift': 1 } }),
    ];
    const out = evaluate({ rules: [rule()], read: () => rows, expectations: () => undefined });
    expect(out).toHaveLength(2);
    const ch1 = out.find((s) => s.target === 'ch1');
    expect(ch1?.regions.map((r) => [r.region, r.value, r.breaching])).toEqual([
      ['eu', 2, true],
      ['us', 0, false],
    ]);
    expect(out.find((s) => s.target === 'ch2')?.regions[0]?.breaching).toBe(false);
  });

  it('finding any, rate per second, ratio per report', () => {
    const rows = [row('t', 'eu', { count: 4, findings: { 'pdt-drift': 1, 'http-status': 3 } })];
    expect(regionValue(rule({ finding: 'any', agg: 'count' }), rows)).toBe(4);
    expect(regionValue(rule({ finding: 'any', agg: 'rate', window: '1m' }), rows)).toBeCloseTo(4 / 60);
    expect(regionValue(rule({ finding: 'http-status', agg: 'ratio' }), rows)).toBe(0.75);
  });

  it('success ratio sums outcomes over probe kinds; percentiles take the worse kind', () => {
    const rows = [
      row('t', 'eu', { outcomes: { ok: 1, degraded: 0, failed: 3, 'probe-error': 5 } }, 'browser'),
      row('t', 'eu', { outcomes: { ok: 4, degraded: 0, failed: 0, 'probe-error': 0 } }, 'stream'),
    ];
    expect(
      regionValue(rule({ finding: undefined, metric: 'success_ratio', agg: 'ratio', op: '<' }), rows),
    ).toBe(5 / 8);
    const lat = [
      row(
        't',
        'eu',
        { metrics: { segment_ttfb_p50_ms: { p50: 10, p95: 40, p99: 90, count: 5 } } },
        'browser',
      ),
      row('t', 'eu', { metrics: { segment_ttfb_p50_ms: { p50: 20, p95: 30, p99: 50, count: 5 } } }, 'stream'),
    ];
    expect(
      regionValue(rule({ finding: undefined, metric: 'segment_ttfb_p50_ms', agg: 'p95', op: '>' }), lat),
    ).toBe(40);
    expect(
      regionValue(rule({ finding: undefined, metric: 'segment_ttfb_p50_ms', agg: 'p95', op: '<' }), lat),
    ).toBe(30);
    // not measured: no value, never a fake 0
    expect(regionValue(rule({ finding: undefined, metric: 'startup_ms', agg: 'p95' }), lat)).toBeNull();
  });

  it('counters, probe filter, min_reports, threshold from the target expectation', () => {
    const rows = [
      row('t', 'eu', { count: 1, errors: { http: 5, network: 0, player: 0, conformance: 0 } }, 'stream'),
      row('t', 'eu', { count: 3, errors: { http: 1, network: 0, player: 0, conformance: 0 } }, 'browser'),
    ];
    const r = rule({ finding: undefined, metric: 'errors_http', agg: 'count', threshold: 2 });
    expect(regionValue(r, rows)).toBe(6);
    const [s] = evaluate({
      rules: [{ ...r, probe: 'browser' }],
      read: () => rows,
      expectations: () => undefined,
    });
    expect(s?.regions[0]).toMatchObject({ value: 1, breaching: false, reports: 3 });
    const [few] = evaluate({
      rules: [{ ...r, min_reports: 5 }],
      read: () => rows,
      expectations: () => undefined,
    });
    expect(few?.regions[0]).toMatchObject({ value: 6, breaching: false, counted: false });

    const startup = rule({
      finding: undefined,
      metric: 'startup_ms',
      agg: 'p95',
      threshold: 4000,
      threshold_from: 'startup_ms',
    });
    expect(thresholdFor(startup, { startup_ms: 2500 })).toBe(2500);
    expect(thresholdFor(startup, {})).toBe(4000);
    const lat = [
      row('t', 'eu', { metrics: { startup_ms: { p50: 2000, p95: 3000, p99: 3500, count: 9 } } }, 'browser'),
    ];
    const [v] = evaluate({ rules: [startup], read: () => lat, expectations: () => ({ startup_ms: 2500 }) });
    expect(v).toMatchObject({ threshold: 2500, regions: [{ value: 3000, breaching: true }] });
  });

  it('reads each window once, passes the target scope, honours rule.targets, attaches sample reports', () => {
    const reads: string[] = [];
    const rows = [
      row('a', 'eu', { findings: { 'playlist-stale': 1 } }),
      row('b', 'eu', { findings: { 'playlist-stale': 1 } }),
    ];
    const out = evaluate({
      rules: [rule({ id: 'x' }), rule({ id: 'y', targets: ['b'] }), rule({ id: 'z', window: '5m' })],
      read: (w, t) => {
        reads.push(`${w}:${t ? [...t].join(',') : '*'}`);
        return rows;
      },
      targets: new Set(['a', 'b']),
      expectations: () => undefined,
      samples: (r, t, region) => [`${r.id}-${t}-${region}`],
    });
    expect(reads).toEqual(['1m:a,b', '5m:a,b']);
    expect(out.filter((s) => s.rule.id === 'y').map((s) => s.target)).toEqual(['b']);
    expect(out[0]?.regions[0]?.sampleReports).toEqual(['x-a-eu']);
    expect(group().count).toBe(10);
  });
});

describe('rows per probe kind or merged', () => {
  it('counters read the merged row when there is one; percentiles the kinds', async () => {
    const { rowNeeds } = await import('./evaluate.js');
    const merged = row('t', 'eu', { count: 5, errors: { http: 7, network: 0, player: 0, conformance: 0 } });
    const rows = [
      { ...merged, probe: 'all' as const },
      row('t', 'eu', { count: 2, errors: { http: 3, network: 0, player: 0, conformance: 0 } }, 'stream'),
      row(
        't',
        'eu',
        {
          count: 3,
          errors: { http: 4, network: 0, player: 0, conformance: 0 },
          metrics: { startup_ms: { p50: 1, p95: 9, p99: 9, count: 3 } },
        },
        'browser',
      ),
    ];
    const count = rule({ finding: undefined, metric: 'errors_http', agg: 'count' });
    const p95 = rule({ id: 'p', finding: undefined, metric: 'startup_ms', agg: 'p95' });
    const out = evaluate({ rules: [count, p95], read: () => rows, expectations: () => undefined });
    expect(out.map((s) => [s.rule.id, s.regions[0]?.value, s.regions[0]?.reports])).toEqual([
      ['r1', 7, 5],
      ['p', 9, 5],
    ]);
    expect([...rowNeeds([count, p95, rule({ id: 'b', probe: 'browser' })], '1m')].sort()).toEqual([
      'all',
      'browser',
      'stream',
    ]);
  });
});
