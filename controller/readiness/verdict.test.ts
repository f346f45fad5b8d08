import { describe, expect, it } from 'vitest';
import type { Report, Target } from '../../shared/schemas.js';
import { pivotTable, toHtml, toMarkdown } from './report.js';
import { DEFAULT_EXPECTATIONS, type JudgeInput, judgeSweep } from './verdict.js';

const target = (id: string, extra: Partial<Target> = {}): Target => ({
  id,
  url: `http://127.0.0.1:1/${id}.m3u8`,
  protocol: 'hls',
  labels: {},
  expectations: {},
  ...extra,
});

let n = 0;
function report(
  t: string,
  region: string,
  over: Partial<Report> = {},
  metrics: Report['metrics'] = {},
): Report {
  const now = new Date().toISOString();
  n++;
  return {
    id: `j${n}:0`,
    jobId: `j${n}`,
    seq: 0,
    target: { id: t, url: `http://127.0.0.1:1/${t}.m3u8`, protocol: 'hls' },
    region,
    agentId: `agent-${region}`,
    probe: 'browser',
    mode: 'check',
    startedAt: now,
    endedAt: now,
    outcome: 'ok',
    reasons: [],
    metrics: { startup_ms: 800, g2g_p95_ms: 6000, rebuffer_ratio: 0, segments_total: 10, ...metrics },
    segments: [],
    errors: [],
    findings: [],
    version: 't',
    ...over,
  };
}

function judge(
  reports: Report[],
  opts: {
    targets?: Target[];
    regions?: string[];
    allowMissing?: boolean;
    baseline?: JudgeInput['baseline'];
  } = {},
) {
  const targets = opts.targets ?? [target('ch1')];
  return judgeSweep({
    sweep: {
      targets: targets.map(({ id, url, protocol }) => ({ id, url, protocol })),
      regions: opts.regions ?? ['eu'],
      reports,
      allowMissingRegions: opts.allowMissing ?? false,
      state: 'done',
    },
    target: (id) => targets.find((t) => t.id === id),
    baseline: opts.baseline ?? (() => undefined),
  });
}

describe('readiness verdict', () => {
  it('is GO when every cell meets the default expectations', () => {
    const v = judge([report('ch1', 'eu')]);
    expect(v).toMatchObject({ verdict: 'go', reasons: [] });
    expect(v.cells[0]?.figures.find((f) => f.metric === 'startup')).toMatchObject({
      value: 800,
      expected: DEFAULT_EXPECTATIONS.startup_ms,
    });
  });

  it("is NO-GO past an expectation (the target's own, else the default), naming the figure", () => {
    const slow = judge([report('ch1', 'eu', {}, { startup_ms: 6200 })]);
    expect(slow.verdict).toBe('no-go');
    expect(slow.reasons).toEqual(['ch1 @ eu: startup 6.2 s exceeds the expected 5.0 s']);
    const own = judge([report('ch1', 'eu', {}, { startup_ms: 6200 })], {
      targets: [target('ch1', { expectations: { startup_ms: 8000 } })],
    });
    expect(own.verdict).toBe('go');
    const errors = judge([report('ch1', 'eu', {}, { segments_total: 8, errors_http: 2 })]);
    expect(errors.reasons[0]).toContain('20.0 % of segment requests failed');
  });

  it('is NO-GO when the stream failed, WARN when it was only degraded', () => {
    expect(
      judge([report('ch1', 'eu', { outcome: 'failed', reasons: ['manifest http 404'] })]).reasons,
    ).toEqual(['ch1 @ eu: stream failed: manifest http 404']);
    const degraded = judge([
      report('ch1', 'eu', { outcome: 'degraded', reasons: ['2 stalls, 1.2 s stalled'] }),
    ]);
    expect(degraded).toMatchObject({
      verdict: 'warn',
      reasons: ['ch1 @ eu: degraded: 2 stalls, 1.2 s stalled'],
    });
  });

  it('is WARN on a regression against the baseline, within the documented thresholds', () => {
    const baseline = () => ({ sweepId: 'b1', stats: { startup: 800, g2g: 6000 } });
    // +50 % but under +1 s: noise, not a regression
    expect(judge([report('ch1', 'eu', {}, { startup_ms: 1500 })], { baseline }).verdict).toBe('go');
    const slower = judge([report('ch1', 'eu', {}, { startup_ms: 2000 })], { baseline });
    expect(slower).toMatchObject({ verdict: 'warn' });
    expect(slower.reasons[0]).toBe('ch1 @ eu: startup 2.0 s regressed from 0.8 s in the baseline');
    expect(slower.cells[0]?.baselineSweepId).toBe('b1');
    const later = judge([report('ch1', 'eu', {}, { g2g_p95_ms: 8500 })], { baseline });
    expect(later.reasons[0]).toContain('glass-to-glass 8.5 s regressed from 6.0 s');
  });

  it('is NO-GO for a region that sent nothing, unless the sweep allows it', () => {
    const v = judge([report('ch1', 'eu')], { regions: ['eu', 'us'] });
    expect(v.verdict).toBe('no-go');
    expect(v.cells.find((c) => c.region === 'us')).toMatchObject({ verdict: 'no-go', inconclusive: true });
    expect(judge([report('ch1', 'eu')], { regions: ['eu', 'us'], allowMissing: true }).verdict).toBe('warn');
  });

  it('never lets probe errors make a stream NO-GO: enough of them make the cell WARN inconclusive', () => {
    const ours = report('ch1', 'eu', { outcome: 'probe-error', reasons: ['Chromium failed to launch'] }, {});
    const v = judge([ours]);
    expect(v.verdict).toBe('warn');
    expect(v.cells[0]).toMatchObject({ inconclusive: true, probeErrors: 1 });
    expect(v.reasons[0]).toContain(
      'inconclusive: 1 of 1 probes failed on our side (Chromium failed to launch)',
    );
  });

  it('pivots the verdict table by a label and renders md/html that name every cell', () => {
    const targets = [
      target('final-a', { labels: { cdn: 'akamai' } }),
      target('final-f', { labels: { cdn: 'fastly' } }),
    ];
    const v = judge([report('final-a', 'eu'), report('final-f', 'eu', {}, { startup_ms: 9000 })], {
      targets,
    });
    expect(pivotTable(v.cells, 'cdn')).toEqual({
      columns: ['akamai', 'fastly'],
      rows: [['eu', ['go', 'no-go']]],
    });
    const sweep = {
      id: 's1',
      name: 'final <check>',
      author: 'ops',
      state: 'done' as const,
      createdAt: new Date().toISOString(),
      deadline: new Date().toISOString(),
      probe: 'browser' as const,
      durationS: 30,
      allowMissingRegions: false,
      targets: [],
      regions: ['eu'],
      expected: 2,
      received: 2,
      perRegion: {},
      reports: [],
      baseline: false,
    };
    const model = { sweep, verdict: v, pivot: 'cdn', generatedAt: new Date().toISOString() };
    const md = toMarkdown(model);
    expect(md).toContain('| final-f | eu | NO-GO | startup 9.0 s exceeds the expected 5.0 s |');
    expect(md).toContain('| Region | akamai | fastly |');
    // Names are escaped in the HTML (a target name is user input).
    expect(toHtml(model)).toContain('Readiness: final &lt;check&gt;');
  });
});
