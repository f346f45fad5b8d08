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

  it('says where glass-to-glass came from: an injector strip, the testbed strip, or none', () => {
    expect(
      formatResult(
        browserResult({ g2g_method: 'stamp', g2g_injector_id: 4242, g2g_strip: 'bottom-left@0.5' }),
      ),
    ).toContain('\n  clock strip    read, injector 4242 at bottom-left@0.5');
    expect(formatResult(browserResult({ g2g_method: 'stamp', g2g_strip: 'top-left@1' }))).toContain(
      'clock strip    read, no painter id (testbed) at top-left@1',
    );
    expect(formatResult(browserResult({ g2g_method: 'none' }))).toContain(
      'clock strip    none in the picture: no glass-to-glass',
    );
    expect(formatResult(browserResult())).not.toContain('clock strip');
  });
});
