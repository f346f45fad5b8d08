import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../shared/schemas.js';
import { formatRenditions, formatResult } from './format.js';

const browserResult = (over: Partial<ProbeResult> = {}): ProbeResult => ({
  target: { id: 't', url: 'http://o/master.m3u8', protocol: 'hls' },
  probe: 'browser',
  mode: 'check',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:10.000Z',
  outcome: 'ok',
  reasons: [],
  metrics: { bitrate_switches: 1 },
  segments: [],
  errors: [],
  findings: [],
  ...over,
});

describe('formatResult', () => {
  it('prints the time at each rendition with its share', () => {
    const rs = [
      { rendition: '360p', height: 360, bitrate: 800_000, time_ms: 8200 },
      { rendition: '240p', height: 240, bitrate: 400_000, time_ms: 1800 },
    ];
    expect(formatRenditions(rs)).toBe('360p 8.2 s (82%), 240p 1.8 s (18%)');
    expect(formatResult(browserResult({ renditions: rs }))).toContain(
      '\n  renditions     360p 8.2 s (82%), 240p 1.8 s (18%)',
    );
  });

  it('no renditions line for a report without them (older reports, or never played)', () => {
    expect(formatResult(browserResult())).not.toContain('renditions');
    expect(formatRenditions([{ rendition: '144p', time_ms: 0 }])).toBe('144p 0.0 s');
  });
});
