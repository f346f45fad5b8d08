import { describe, expect, it } from 'vitest';
import { BitrateMeter, minBufferTimeS, segmentSize } from './bandwidth.js';

describe('bandwidth-exceeded', () => {
  it('HLS: one segment above BANDWIDTH + tolerance is a finding; within it is not', () => {
    const m = new BitrateMeter();
    const declared = { protocol: 'hls' as const, bandwidth: 1_000_000 };
    // 1.05 Mbit/s over 2 s: within 10 %.
    expect(m.add({ bytes: 262_500, durationS: 2, sn: 1 }, declared, 0.1)).toEqual([]);
    const [o] = m.add({ bytes: 375_000, durationS: 2, sn: 2 }, declared, 0.1);
    expect(o?.code).toBe('bandwidth-exceeded');
    expect(o?.severity).toBe('warning');
    expect(o?.summary).toContain('segment 2: 1500 kbit/s');
    expect(m.figures()).toEqual({ peakBps: 1_500_000, averageBps: 1_275_000, segments: 2 });
  });

  it('HLS: AVERAGE-BANDWIDTH is judged on the mean of at least 5 segments', () => {
    const m = new BitrateMeter();
    const declared = { protocol: 'hls' as const, bandwidth: 10_000_000, averageBandwidth: 500_000 };
    const seg = { bytes: 150_000, durationS: 2 }; // 600 kbit/s, 20 % over
    for (let i = 0; i < 4; i++) expect(m.add(seg, declared, 0.1)).toEqual([]);
    expect(m.add(seg, declared, 0.1)[0]?.summary).toContain('AVERAGE-BANDWIDTH 500 kbit/s');
  });

  it('DASH: @bandwidth is a leaky bucket of minBufferTime', () => {
    const m = new BitrateMeter();
    const declared = { protocol: 'dash' as const, bandwidth: 1_000_000, minBufferTimeS: 2 };
    // 2 s segment at 1.8 Mbit/s: 3.6 Mbit <= 1 Mbit/s x (2 + 2) s x 1.1.
    expect(m.add({ bytes: 450_000, durationS: 2 }, declared, 0.1)).toEqual([]);
    expect(m.add({ bytes: 750_000, durationS: 2 }, declared, 0.1)).toHaveLength(1);
  });

  it('ignores empty samples and renditions without a declared figure', () => {
    const m = new BitrateMeter();
    expect(m.add({ bytes: 0, durationS: 2 }, { protocol: 'hls', bandwidth: 1 }, 0.1)).toEqual([]);
    expect(m.add({ bytes: 10_000_000, durationS: 2 }, { protocol: 'hls' }, 0.1)).toEqual([]);
    expect(m.add({ bytes: 10, durationS: Number.NaN }, { protocol: 'hls', bandwidth: 1 }, 0.1)).toEqual([]);
  });

  it('sizes a segment from the body, Content-Range or a HEAD Content-Length', () => {
    expect(segmentSize('GET', 200, 1234, {})).toBe(1234);
    expect(segmentSize('range', 206, 65536, { 'content-range': 'bytes 0-65535/400000' })).toBe(400_000);
    expect(segmentSize('HEAD', 200, 0, { 'content-length': '98765' })).toBe(98_765);
    expect(segmentSize('HEAD', 200, 0, {})).toBeUndefined();
    expect(segmentSize('GET', 206, 500, {}, 500)).toBe(500);
  });

  it('reads MPD@minBufferTime', () => {
    expect(minBufferTimeS('<MPD minBufferTime="PT2.0S">')).toBe(2);
    expect(minBufferTimeS('<MPD minBufferTime="PT1M30S">')).toBe(90);
    expect(minBufferTimeS('<MPD>')).toBeUndefined();
  });
});
