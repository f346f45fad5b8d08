import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRulesFile, parseMatcher, parseRulesFile, RulesFileError, shippedRulesFile } from './config.js';
import { durationMs, Rule } from './schema.js';

const shipped = fileURLToPath(new URL('../../deploy/rules.yaml', import.meta.url));

describe('rules file', () => {
  it('the shipped defaults load; receivers without their variables are disabled', () => {
    expect(shippedRulesFile()).toBe(shipped);
    const { file, disabled } = loadRulesFile(shipped, {});
    expect(file.rules.map((r) => r.id)).toEqual(
      expect.arrayContaining([
        'stream-unplayable',
        'startup-slow',
        'g2g-high',
        'playlist-stale',
        'conformance',
        'http-error-rate',
        'agent-offline',
        'region-offline',
      ]),
    );
    expect(file.rules.find((r) => r.id === 'stream-unplayable')?.quorum).toEqual({ regions: 2 });
    expect(file.receivers).toEqual([]);
    expect(disabled.map((d) => d.name)).toEqual(['webhook', 'slack', 'pagerduty', 'alertmanager']);
    expect(disabled[0]?.missing).toEqual(['LIVEPROBE_ALERT_WEBHOOK_URL', 'LIVEPROBE_ALERT_WEBHOOK_SECRET']);
    expect(file.route.routes[0]?.matchers).toEqual([
      { name: 'severity', value: 'critical', is_regex: false, is_equal: true },
    ]);
  });

  it('fills environment variables in receivers', () => {
    const { file, disabled } = loadRulesFile(shipped, {
      LIVEPROBE_ALERT_PAGERDUTY_KEY: 'R0UTINGKEY',
      LIVEPROBE_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/hook',
      LIVEPROBE_ALERT_WEBHOOK_SECRET: 'a-secret-of-16-chars',
    });
    expect(disabled.map((d) => d.name)).toEqual(['slack', 'alertmanager']);
    expect(file.receivers.find((r) => r.kind === 'pagerduty')).toMatchObject({
      routing_key: 'R0UTINGKEY',
      url: 'https://events.pagerduty.com/v2/enqueue',
    });
  });

  it('names the offending field', () => {
    const bad = (yaml: string) => {
      try {
        parseRulesFile(yaml, 'x.yaml', {});
      } catch (err) {
        expect(err).toBeInstanceOf(RulesFileError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad('rules: [{id: a, metric: startup_ms, agg: count}]')).toMatch(
      /rules\.0\.agg: startup_ms is a distribution/,
    );
    expect(bad('rules: [{id: a, metric: stall_count, agg: count}]')).toMatch(
      /rules\.0\.metric: stall_count is reported but not aggregated/,
    );
    expect(bad('rules: [{id: a, metric: bogus_ms, agg: p95}]')).toMatch(/unknown metric bogus_ms/);
    expect(bad('rules: [{id: a, metric: errors_http, agg: p95}]')).toMatch(/errors_http is a counter/);
    expect(bad('rules: [{id: a, finding: playlist-stale, agg: p50}]')).toMatch(/a finding is counted/);
    expect(bad('rules: [{id: a, finding: nope, agg: count}]')).toMatch(/rules\.0\.finding/);
    expect(bad('rules: [{id: a, fleet: agent-offline, metric: startup_ms}]')).toMatch(
      /exactly one of metric, finding, fleet/,
    );
    expect(bad('rules: [{id: a, fleet: agent-offline, quorum: {regions: 2, percent: 50}}]')).toMatch(
      /rules\.0\.quorum/,
    );
    expect(bad('rules: [{id: a, fleet: agent-offline, for: 5 minutes}]')).toMatch(/rules\.0\.for/);
    expect(bad('route: {receivers: [nobody]}')).toMatch(/route\.receivers: unknown receiver nobody/);
    expect(bad('receivers: [{name: w, kind: webhook, url: "ftp://x"}]')).toMatch(/receivers\.0\.url/);
    expect(bad(`rules: [{id: a, fleet: agent-offline, for: "$${'{'}UNSET_X}"}]`)).toMatch(
      /unset variable\(s\) UNSET_X/,
    );
  });

  it('parses Alertmanager matchers and durations', () => {
    expect(parseMatcher('target=~"ch-.*"')).toEqual({
      name: 'target',
      value: 'ch-.*',
      is_regex: true,
      is_equal: true,
    });
    expect(parseMatcher('region!="eu"')).toEqual({
      name: 'region',
      value: 'eu',
      is_regex: false,
      is_equal: false,
    });
    expect(() => parseMatcher('region == eu')).toThrow(/bad matcher/);
    expect(durationMs('1m30s')).toBe(90_000);
    expect(durationMs('500ms')).toBe(500);
    expect(durationMs(2)).toBe(2000);
    expect(durationMs('0')).toBe(0);
  });

  it('rule defaults', () => {
    const r = Rule.parse({ id: 'x', finding: 'playlist-stale', agg: 'count' });
    expect(r).toMatchObject({
      window: '1m',
      op: '>',
      threshold: 0,
      quorum: { regions: 1 },
      for: 0,
      severity: 'warning',
      min_reports: 1,
    });
  });
});
