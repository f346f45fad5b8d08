import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log.js';
import { freePort } from '../test/helpers/procs.js';
import { parseMediaPlaylist } from './hls.js';
import { startTestbed, type Testbed } from './index.js';
import { segmentFirstFrameClock } from './segment-clock.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('testbed (single ladder)', () => {
  let tb: Testbed;
  const logger = createLogger('testbed-test', 'silent');

  beforeAll(async () => {
    tb = await startTestbed({ ladder: 'single', port: await freePort(), logger });
  });
  afterAll(async () => {
    await tb?.stop();
  });

  it('lists its stream at /streams with absolute URLs and CORS', async () => {
    const res = await fetch(`${tb.url}/streams`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const list = (await res.json()) as Array<{
      id: string;
      protocol: string;
      url: string;
      renditions: { name: string; url: string; bandwidth: number }[];
    }>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: 'hls-ts', protocol: 'hls', container: 'ts' });
    expect(list[0]!.url).toBe(`${tb.url}/hls-ts/master.m3u8`);
    expect(list[0]!.renditions).toEqual([
      expect.objectContaining({ name: '360p', url: `${tb.url}/hls-ts/360p/index.m3u8` }),
    ]);
    const master = await fetch(list[0]!.url);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(await master.text()).toContain('360p/index.m3u8');
  });

  it('serves /time as ISO 8601, /healthz, OPTIONS preflight and 404s', async () => {
    const before = Date.now();
    const res = await fetch(`${tb.url}/time`);
    const text = await res.text();
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(text) - before)).toBeLessThan(1000);
    expect(res.headers.get('cache-control')).toContain('no-cache');
    expect((await fetch(`${tb.url}/healthz`)).status).toBe(200);
    const pre = await fetch(`${tb.url}/hls-ts/master.m3u8`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toContain('GET');
    expect((await fetch(`${tb.url}/hls-ts/360p/seg_99999.ts`)).status).toBe(404);
    expect((await fetch(`${tb.url}/hls-ts/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
    expect((await fetch(`${tb.url}/..%2f..%2fetc%2fpasswd`)).status).toBe(404);
  });

  it('publishes an advancing playlist with PROGRAM-DATE-TIME', async () => {
    const url = tb.streams[0]!.renditions[0]!.url;
    const res = await fetch(url);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(res.headers.get('cache-control')).toMatch(/max-age=1\b/);
    const first = parseMediaPlaylist(await res.text());
    expect(first.segments.length).toBeGreaterThanOrEqual(2);
    expect(first.segments.every((s) => s.pdt !== undefined)).toBe(true);
    expect(first.targetDuration).toBe(2);
    const later = await until('the playlist to advance', async () => {
      const p = parseMediaPlaylist(await (await fetch(url)).text());
      return p.segments.at(-1)!.seq > first.segments.at(-1)!.seq ? p : undefined;
    });
    expect(later.mediaSequence).toBeGreaterThanOrEqual(first.mediaSequence);
  });

  it('carries the capture clock in the picture, within 100 ms of the segment PDT', async () => {
    const url = tb.streams[0]!.renditions[0]!.url;
    const p = parseMediaPlaylist(await (await fetch(url)).text());
    const diffs: number[] = [];
    for (const seg of p.segments.slice(-2)) {
      const res = await fetch(new URL(seg.uri, url));
      expect(res.headers.get('content-type')).toBe('video/mp2t');
      expect(res.headers.get('cache-control')).toMatch(/max-age=\d{3,}/);
      const stamp = await segmentFirstFrameClock(Buffer.from(await res.arrayBuffer()));
      expect(stamp).not.toBeNull();
      diffs.push(stamp! - seg.pdt!);
    }
    console.log(`in-frame clock minus PDT: ${diffs.join(', ')} ms`);
    for (const d of diffs) expect(Math.abs(d)).toBeLessThan(100);
  });

  it('restarts ffmpeg when it is killed, and the playlist advances again', async () => {
    const pid = tb.ffmpegPid()!;
    expect(pid).toBeGreaterThan(0);
    const url = tb.streams[0]!.renditions[0]!.url;
    process.kill(pid, 'SIGKILL');
    const newPid = await until('a new ffmpeg', () => {
      const p = tb.ffmpegPid();
      return p !== undefined && p !== pid ? p : undefined;
    });
    expect(alive(pid)).toBe(false);
    expect(tb.restarts()).toBe(1);
    const before = parseMediaPlaylist(await (await fetch(url)).text());
    const last = before.segments.at(-1)!.seq;
    await tb.waitForPlaylist(url, (t) => parseMediaPlaylist(t).segments.at(-1)!.seq > last, 15_000);
    expect(alive(newPid)).toBe(true);
    // Numbering continues across the restart and the new run's PDTs are still the true capture times.
    const after = parseMediaPlaylist(await (await fetch(url)).text());
    expect(after.mediaSequence).toBeGreaterThanOrEqual(before.mediaSequence);
    const seg = after.segments.at(-1)!;
    const stamp = await segmentFirstFrameClock(
      Buffer.from(await (await fetch(new URL(seg.uri, url))).arrayBuffer()),
    );
    expect(Math.abs(stamp! - seg.pdt!)).toBeLessThan(100);
    // The restart is a source disturbance (benches discount what happens during it).
    expect(tb.sourceLog().map((e) => e.kind)).toContain('ffmpeg-restart');
  });

  it('a starved source is logged: the frame pacer re-anchors and sourceLog says when', async () => {
    const before = Date.now();
    // Block this process's event loop (the pacer's) for longer than its 1 s tolerance.
    while (Date.now() - before < 1500) {}
    const e = await until('a pacer re-anchor', () =>
      tb.sourceLog(before).find((x) => x.kind === 'pacer-reanchor'),
    );
    expect(e.lagMs).toBeGreaterThan(1000);
    expect(e.atMs).toBeGreaterThanOrEqual(before);
    const health = (await (await fetch(`${tb.url}/healthz`)).json()) as { pacerReanchors?: number };
    expect(health.pacerReanchors).toBeGreaterThanOrEqual(1);
  });

  it('stop() leaves no ffmpeg behind', async () => {
    const pid = tb.ffmpegPid()!;
    await tb.stop();
    expect(alive(pid)).toBe(false);
    await expect(fetch(`${tb.url}/healthz`)).rejects.toThrow();
  });
});
