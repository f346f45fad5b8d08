import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const configError = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('observability config keys', () => {
  it('controller.externalUrl comes from LIVEPROBE_EXTERNAL_URL, without a trailing slash', () => {
    const c = loadConfig({ env: { LIVEPROBE_EXTERNAL_URL: 'https://probes.example.com/lp/' } });
    expect(c.controller.externalUrl).toBe('https://probes.example.com/lp');
    expect(loadConfig({ env: {} }).controller.externalUrl).toBeUndefined();
  });

  it('refuses an externalUrl that is not an absolute http(s) URL', () => {
    const err = configError(() => loadConfig({ env: { LIVEPROBE_EXTERNAL_URL: 'ftp://x' } }));
    expect(err.message).toContain('controller.externalUrl');
    expect(err.message).toContain('LIVEPROBE_EXTERNAL_URL');
  });

  it('metricsTargetLabels: a comma list from the env, label names only, none that liveprobe sets itself', () => {
    const c = loadConfig({ env: { LIVEPROBE_METRICS_TARGET_LABELS: 'cdn, tier' } });
    expect(c.controller.metricsTargetLabels).toEqual(['cdn', 'tier']);
    expect(loadConfig({ env: {} }).controller.metricsTargetLabels).toEqual([]);
    expect(
      configError(() => loadConfig({ env: { LIVEPROBE_METRICS_TARGET_LABELS: 'region' } })).message,
    ).toContain('clashes');
    expect(
      configError(() => loadConfig({ env: { LIVEPROBE_METRICS_TARGET_LABELS: 'Bad-Name' } })).message,
    ).toContain('metricsTargetLabels');
  });
});
