import { describe, expect, it } from 'vitest';
import { classifyOutcome } from './outcome.js';

const played = { played: true, waitedS: 15, metrics: { startup_ms: 800, stall_count: 0, stall_ms: 0 } };

describe('classifyOutcome', () => {
  it('ok when played and nothing exceeded', () => {
    expect(classifyOutcome({ ...played, expectations: { startup_ms: 4000 } })).toEqual({
      outcome: 'ok',
      reasons: [],
    });
  });

  it('probe-error wins over everything (our fault, never the stream)', () => {
    const r = classifyOutcome({ ...played, probeError: 'browser died: Chromium (pid 1) exited' });
    expect(r).toEqual({ outcome: 'probe-error', reasons: ['browser died: Chromium (pid 1) exited'] });
  });

  it('failed on a fatal player error, with the HTTP status', () => {
    const r = classifyOutcome({
      played: false,
      waitedS: 0.2,
      metrics: {},
      fatal: { errType: 'networkError', details: 'manifestLoadError', status: 404 },
    });
    expect(r.outcome).toBe('failed');
    expect(r.reasons[0]).toBe(
      'fatal player error: networkError manifestLoadError (HTTP 404) before the first frame',
    );
  });

  it('failed when no first frame arrived within the duration', () => {
    const r = classifyOutcome({ played: false, waitedS: 15, metrics: {} });
    expect(r).toEqual({ outcome: 'failed', reasons: ['no first frame within 15.0 s'] });
  });

  it('an aborted run that never played is not blamed on the stream', () => {
    const r = classifyOutcome({ played: false, waitedS: 1.2, aborted: true, metrics: {} });
    expect(r.outcome).toBe('probe-error');
    expect(r.reasons[0]).toMatch(/aborted/);
  });

  it('degraded with reasons naming number and threshold', () => {
    const r = classifyOutcome({
      played: true,
      waitedS: 30,
      metrics: { startup_ms: 5200, g2g_p50_ms: 6100, rebuffer_ratio: 0.12, stall_count: 2, stall_ms: 1830 },
      expectations: { startup_ms: 4000, g2g_ms: 5000, rebuffer_ratio: 0.05 },
    });
    expect(r.outcome).toBe('degraded');
    expect(r.reasons).toEqual([
      'startup 5200 ms > 4000 ms expected',
      'g2g p50 6100 ms > 5000 ms expected',
      'rebuffer ratio 0.120 > 0.050 expected',
      '2 stalls, 1830 ms stalled',
    ]);
  });

  it('falls back to PDT latency for the latency expectation when no stamp was decoded', () => {
    const r = classifyOutcome({
      played: true,
      waitedS: 30,
      metrics: { pdt_latency_p50_ms: 7000 },
      expectations: { g2g_ms: 5000 },
    });
    expect(r).toEqual({ outcome: 'degraded', reasons: ['latency (PDT) p50 7000 ms > 5000 ms expected'] });
  });

  it('a single stall degrades even without expectations', () => {
    const r = classifyOutcome({ played: true, waitedS: 30, metrics: { stall_count: 1, stall_ms: 400 } });
    expect(r).toEqual({ outcome: 'degraded', reasons: ['1 stall, 400 ms stalled'] });
  });

  it('a frozen or black picture degrades', () => {
    const r = classifyOutcome({ played: true, waitedS: 30, metrics: { frozen_ms: 4200, black_ms: 1500 } });
    expect(r).toEqual({ outcome: 'degraded', reasons: ['picture frozen 4200 ms', 'picture black 1500 ms'] });
  });

  it('played before but no frame in this whole period fails', () => {
    const r = classifyOutcome({
      played: true,
      waitedS: 60,
      periodS: 10,
      metrics: { total_frames: 0, stall_count: 0 },
    });
    expect(r).toEqual({ outcome: 'failed', reasons: ['no video frame presented in 10.0 s'] });
    const short = classifyOutcome({ played: true, waitedS: 1, periodS: 0.5, metrics: { total_frames: 0 } });
    expect(short.outcome).toBe('ok');
  });

  it('values at the threshold are not exceeded', () => {
    const r = classifyOutcome({
      played: true,
      waitedS: 30,
      metrics: { startup_ms: 4000 },
      expectations: { startup_ms: 4000 },
    });
    expect(r.outcome).toBe('ok');
  });
});
