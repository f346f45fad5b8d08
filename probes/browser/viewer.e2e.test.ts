import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log.js';
import { ProbeResult } from '../../shared/schemas.js';
import { lastSequence, parseMediaPlaylist } from '../../testbed/hls.js';
import { startTestbed, type Testbed } from '../../testbed/index.js';
import type { ProbeJob } from '../types.js';
import { BrowserProber } from './index.js';

/**
 * Viewer signals end to end: real ffmpeg (the testbed's Node-painted picture and sound, with the A/V sync
 * marker) and real Chromium (hls.js, the audio analysed with Web Audio). One testbed and one browser for the
 * file; each fault test injects, lets the origin publish content captured after the injection (the player
 * starts 3 segments behind the live edge), plays a short check, and removes the fault.
 */
const logger = createLogger('viewer-e2e', process.env.LIVEPROBE_LOG_LEVEL ?? 'warn');

let testbed: Testbed;
let prober: BrowserProber;
let master: string;
let media: string;

const check = (durationS = 10): ProbeJob => ({
  target: { id: 'viewer', url: master, protocol: 'hls' },
  durationS,
  mode: 'check',
  expectations: {},
});
const run = async (durationS = 10) => {
  const r = await prober.run(check(durationS), { signal: new AbortController().signal, logger });
  ProbeResult.parse(r);
  console.log(
    JSON.stringify({ outcome: r.outcome, av_method: r.av_method, findings: r.findings, metrics: r.metrics }),
  );
  return r;
};

/** Injects a fault and waits until `segments` segments captured after it are published. */
async function injectAndPublish(fault: Record<string, unknown>, segments = 5): Promise<string> {
  const seq0 = lastSequence(parseMediaPlaylist(await (await fetch(media)).text()));
  const { id } = testbed.faults.inject(fault, 'test');
  await testbed.waitForPlaylist(
    media,
    (text) => lastSequence(parseMediaPlaylist(text)) >= seq0 + segments,
    60_000,
  );
  return id;
}

beforeAll(async () => {
  // 1 s segments: a fault reaches the player's starting point within a few seconds.
  testbed = await startTestbed({ port: 0, ladder: 'single', segmentS: 1, logger });
  const hls = testbed.streams[0]!;
  master = hls.url;
  media = hls.renditions[0]!.url;
  prober = new BrowserProber({ logger });
});

afterAll(async () => {
  await prober?.close();
  await testbed?.stop();
});

describe('viewer signals (audio, A/V sync, declared resolution) on real parts', () => {
  it('a healthy stream: audio heard, in sync by the marker, no viewer findings', async () => {
    const r = await run(12);
    expect(r.outcome).toBe('ok');
    const m = r.metrics;
    expect(m.audio_level_p50_dbfs).toBeGreaterThan(-45); // the -30 dBFS bed (+ bursts)
    expect(m.silent_ms).toBe(0);
    expect(m.audio_missing_ms).toBe(0);
    expect(r.av_method).toBe('marker');
    expect(Math.abs(m.av_offset_ms as number)).toBeLessThan(200);
    expect(m.caption_cues_per_min).toBeUndefined(); // the single ladder has no caption rendition
    expect(r.findings).toEqual([]);
  });

  it('audio-silence: the track keeps flowing, the probe hears silence', async () => {
    const id = await injectAndPublish({ stream: 'hls-ts', type: 'audio-silence' });
    try {
      const r = await run();
      expect(r.metrics.silent_ms).toBeGreaterThanOrEqual(5000);
      expect(r.metrics.audio_missing_ms).toBe(0);
      expect(r.metrics.audio_level_p50_dbfs).toBeLessThan(-60);
      expect(r.findings.filter((f) => f.code === 'audio-missing')).toEqual([]);
    } finally {
      testbed.faults.remove(id);
    }
  });

  it('av-drift: the marker measures the shift', async () => {
    const id = await injectAndPublish({ stream: 'hls-ts', type: 'av-drift', shiftMs: 400 });
    try {
      const r = await run();
      expect(r.av_method).toBe('marker');
      expect(r.metrics.av_offset_ms).toBeGreaterThan(300);
      expect(r.metrics.av_offset_ms).toBeLessThan(500);
      expect(r.metrics.silent_ms).toBe(0);
    } finally {
      testbed.faults.remove(id);
    }
  });

  it('audio-drop: declared audio that does not play is audio-missing, not silence', async () => {
    const id = await injectAndPublish({ stream: 'hls-ts', type: 'audio-drop' });
    try {
      const r = await run();
      expect(r.metrics.audio_missing_ms).toBeGreaterThanOrEqual(3000);
      expect(r.metrics.silent_ms).toBeLessThan(1000);
      const f = r.findings.find((x) => x.code === 'audio-missing');
      expect(f?.severity).toBe('critical');
    } finally {
      testbed.faults.remove(id);
    }
  });

  it('resolution-lie: decoded size vs the declared RESOLUTION, naming the rendition', async () => {
    // The lie is in the master, which the player reads at start: nothing to wait for.
    const { id } = testbed.faults.inject({ stream: 'hls-ts', type: 'resolution-lie', rendition: '360p' });
    try {
      const r = await run(8);
      const f = r.findings.find((x) => x.code === 'resolution-mismatch');
      expect(f?.variant).toBe(media);
      expect(f?.evidence).toContain('decoded 640x360, declared 1280x720');
    } finally {
      testbed.faults.remove(id);
    }
  });
});
