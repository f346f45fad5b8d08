import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { ProbeResult } from '../../shared/schemas.js';
import type { ProbeJob } from '../types.js';
import { resolveDashJs } from './harness-server.js';
import { BrowserProber } from './index.js';

/**
 * #18: DASH tests fail (not skip) when dash.js cannot be loaded. The DASH e2e tests (browser.e2e,
 * browser.ladder.e2e) assert outcomes a run without dash.js cannot give; this proves that such a run is a loud
 * probe-error naming the cause, never a skipped or silently passing one.
 */
const logger = createLogger('test', 'warn');
const dashJob: ProbeJob = {
  target: { id: 'dash', url: 'http://127.0.0.1:1/live.mpd', protocol: 'dash' },
  durationS: 5,
  mode: 'check',
  expectations: {},
};

describe('dash.js cannot be loaded', () => {
  let prober: BrowserProber | undefined;
  afterEach(async () => {
    await prober?.close();
    prober = undefined;
  });

  it('the dashjs package is installed, so the DASH e2e tests run (they fail if it goes missing)', () => {
    expect(resolveDashJs(undefined, {})).toMatch(/dashjs/);
  });

  it('a DASH job with dash.js missing is a probe-error that says so', async () => {
    prober = new BrowserProber({ logger, dashJsPath: '/nonexistent/dash.all.min.js' });
    const r = await prober.run(dashJob, { signal: new AbortController().signal, logger });
    ProbeResult.parse(r);
    expect(r.outcome).toBe('probe-error');
    expect(r.reasons[0]).toMatch(/dash\.js not found at \/nonexistent\/dash\.all\.min\.js/);
  });
});
