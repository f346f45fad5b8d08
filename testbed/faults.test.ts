import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/log.js';
import { freePort } from '../test/helpers/procs.js';
import { lastSequence, type MediaPlaylist, parseMediaPlaylist } from './hls.js';
import { startTestbed, type Testbed } from './index.js';
import { segmentFirstFrameClock } from './segment-clock.js';

// One full-ladder testbed (HLS TS + HLS fMP4 + DASH, 3 video renditions + audio) for every test in this file.
// 1 s segments keep the waits short; every wait is a bounded poll for an observable event.
const SEG_S = 1;
let tb: Testbed;

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
  stepMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

const url = (stream: string, rendition?: string): string => {
  const s = tb.streams.find((x) => x.id === stream)!;
  return rendition ? s.renditions.find((r) => r.name === rendition)!.url : s.url;
};
const getText = async (u: string) => (await fetch(u)).text();
const playlist = async (u: string): Promise<MediaPlaylist> => parseMediaPlaylist(await getText(u));
const segUrl = (stream: 'hls-ts' | 'hls-fmp4', rendition: string, seq: number) =>
  `${tb.url}/${stream}/${rendition}/seg_${String(seq).padStart(5, '0')}.${stream === 'hls-ts' ? 'ts' : 'm4s'}`;
const seqOfUri = (uri: string) => Number(/seg_(\d+)\./.exec(uri)![1]);

async function post(body: unknown): Promise<Response> {
  return fetch(`${tb.url}/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}
async function inject(body: Record<string, unknown>): Promise<string> {
  const res = await post(body);
  const json = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json.id;
}
async function remove(id: string): Promise<void> {
  expect((await fetch(`${tb.url}/faults/${id}`, { method: 'DELETE' })).status).toBe(200);
}
async function timed(u: string, init?: RequestInit): Promise<{ status: number; ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(u, init);
  const bytes = (await res.arrayBuffer()).byteLength;
  return { status: res.status, ms: performance.now() - t0, bytes };
}

beforeAll(async () => {
  tb = await startTestbed({
    port: await freePort(),
    segmentS: SEG_S,
    windowSize: 6,
    logger: createLogger('testbed-faults-test', 'silent'),
    // A timeline whose only step lies far in the future: exercises loading and GET /scenario.
    scenario: { name: 'idle', steps: [{ at: '1h', inject: { stream: 'hls-ts', type: 'endlist' } }] },
  });
  // Let every rendition fill a few segments.
  await until('hls-fmp4 audio and DASH', async () => {
    const a = await fetch(url('hls-fmp4', 'audio'));
    const d = await fetch(url('dash'));
    return a.ok && d.ok && parseMediaPlaylist(await a.text()).segments.length >= 2;
  });
});
afterAll(async () => {
  await tb?.stop();
});
afterEach(async () => {
  await fetch(`${tb.url}/faults`, { method: 'DELETE' });
});

describe('full ladder', () => {
  it('lists HLS TS, HLS fMP4 and DASH with >= 3 video renditions each', async () => {
    const list = (await (await fetch(`${tb.url}/streams`)).json()) as Testbed['streams'];
    expect(list.map((s) => [s.id, s.protocol, s.container])).toEqual([
      ['hls-ts', 'hls', 'ts'],
      ['hls-fmp4', 'hls', 'fmp4'],
      ['dash', 'dash', 'fmp4'],
    ]);
    for (const s of list) {
      expect(s.renditions.filter((r) => r.type === 'video').map((r) => r.name)).toEqual([
        '360p',
        '240p',
        '144p',
      ]);
      expect(s.renditions.map((r) => r.name)).toContain('audio');
    }
    // The acceptance script's own recognisers.
    const txt = JSON.stringify(list).toLowerCase();
    expect(/\bts\b|mpegts|"ts"/.test(txt) && /fmp4|cmaf/.test(txt) && /dash|\.mpd/.test(txt)).toBe(true);
  });

  it('serves master playlists for both HLS flavours and fMP4 init segments', async () => {
    for (const id of ['hls-ts', 'hls-fmp4']) {
      const master = await getText(url(id));
      expect(master).toMatch(/#EXT-X-STREAM-INF:.*RESOLUTION=640x360/);
      expect(master).toMatch(/#EXT-X-MEDIA:TYPE=AUDIO/);
      for (const r of ['360p', '240p', '144p']) expect(master).toContain(`${r}/index.m3u8`);
    }
    const p = await getText(url('hls-fmp4', '240p'));
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(p)![1]!;
    const res = await fetch(new URL(init, url('hls-fmp4', '240p')));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
  });

  it('carries the in-frame clock in every rendition, equal to PDT (TS and fMP4)', async () => {
    const diffs: string[] = [];
    for (const r of ['360p', '240p', '144p']) {
      const p = await playlist(url('hls-ts', r));
      const seg = p.segments.at(-1)!;
      const stamp = await segmentFirstFrameClock(
        new Uint8Array(await (await fetch(new URL(seg.uri, url('hls-ts', r)))).arrayBuffer()),
      );
      expect(stamp, `clock in hls-ts ${r}`).not.toBeNull();
      diffs.push(`${r} ${stamp! - seg.pdt!}`);
      expect(Math.abs(stamp! - seg.pdt!)).toBeLessThan(100);
    }
    const fu = url('hls-fmp4', '144p');
    const fp = await playlist(fu);
    const init =
      /#EXT-X-MAP:URI="([^"]+)"/.exec(fp.header.join('\n') + fp.segments[0]!.tags.join('\n'))?.[1] ??
      'init_2.mp4';
    const seg = fp.segments.at(-1)!;
    const stamp = await segmentFirstFrameClock(
      new Uint8Array(await (await fetch(new URL(seg.uri, fu))).arrayBuffer()),
      new Uint8Array(await (await fetch(new URL(init, fu))).arrayBuffer()),
    );
    expect(Math.abs(stamp! - seg.pdt!)).toBeLessThan(100);
    console.log(`stamp - PDT (ms): ${diffs.join(', ')}, fmp4 144p ${stamp! - seg.pdt!}`);
  });

  it('publishes a dynamic MPD with SegmentTemplate, UTCTiming at /time, ProducerReferenceTime, true availabilityStartTime', async () => {
    const res = await fetch(url('dash'));
    expect(res.headers.get('content-type')).toBe('application/dash+xml');
    const mpd = await res.text();
    expect(mpd).toContain('type="dynamic"');
    expect(mpd).toContain('<SegmentTemplate');
    expect(mpd).toContain(`value="${tb.url}/time"`);
    expect(mpd).toContain('<ProducerReferenceTime');
    const ast = Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)![1]!);
    // The newest complete segment of representation 0: number n covers [(n-1), n) * SEG_S after AST.
    const n = Math.floor((Date.now() - ast) / 1000 / SEG_S) - 1;
    const init = new Uint8Array(await (await fetch(`${tb.url}/dash/init-stream0.m4s`)).arrayBuffer());
    const segRes = await fetch(`${tb.url}/dash/chunk-stream0-${String(n).padStart(5, '0')}.m4s`);
    expect(segRes.status).toBe(200);
    const stamp = await segmentFirstFrameClock(new Uint8Array(await segRes.arrayBuffer()), init);
    expect(stamp).not.toBeNull();
    expect(Math.abs(stamp! - (ast + (n - 1) * SEG_S * 1000))).toBeLessThan(100);
  });
  it('DASH carries a WebVTT text AdaptationSet: one file per $Number$, cues on the Period timeline; captions-stale repeats old cues', async () => {
    const mpd = await getText(url('dash'));
    const set = /<AdaptationSet[^>]*contentType="text"[\s\S]*?<\/AdaptationSet>/.exec(mpd)?.[0] ?? '';
    expect(set).toContain('mimeType="text/vtt"');
    expect(set).toMatch(/<Representation id="4" bandwidth="\d+">/);
    expect(set).toContain('media="sub-$Number%05d$.vtt"');
    const sub = tb.streams.find((x) => x.id === 'dash')?.renditions.find((r) => r.type === 'subtitles');
    expect(sub?.representationId).toBe('4');
    const ast = Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)![1]!);
    const vttUrl = (n: number) => `${tb.url}/dash/sub-${String(n).padStart(5, '0')}.vtt`;
    const n = Math.floor((Date.now() - ast) / 1000 / SEG_S) - 1;
    const res = await fetch(vttUrl(n));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/vtt');
    const body = await res.text();
    // Number n covers [(n-1), n) x SEG_S of Period time; its cue reads the capture time of that second.
    const t = (s: number) => new Date(s * 1000).toISOString().slice(11, 23);
    expect(body).toContain(`${t((n - 1) * SEG_S)} --> ${t(n * SEG_S)}`);
    expect(body).toContain(`${new Date(ast + (n - 1) * SEG_S * 1000).toISOString().slice(11, 19)} UTC`);
    expect((await post({ stream: 'dash', type: 'captions-stale', rendition: '360p' })).status).toBe(400);
    const id = await inject({ stream: 'dash', type: 'captions-stale' });
    const held = await getText(vttUrl(n));
    const later = await until('a newer text segment', async () => {
      const r = await fetch(vttUrl(n + 2));
      return r.ok ? r.text() : undefined;
    });
    expect(later).toBe(held);
    await remove(id);
    expect(await getText(vttUrl(n + 2))).toContain(`${t((n + 1) * SEG_S)} --> ${t((n + 2) * SEG_S)}`);
  });
});

describe('fault API', () => {
  it('rejects invalid faults with 400 and says why', async () => {
    const cases: [unknown, RegExp][] = [
      [{ stream: 'hls-ts', type: 'nope' }, /unknown fault type "nope"; one of: delay, status/],
      [{ stream: 'zzz', type: 'stale' }, /unknown stream "zzz"; streams: hls-ts, hls-fmp4, dash/],
      [
        { stream: 'hls-ts', rendition: '999p', type: 'stale' },
        /unknown rendition "999p" of hls-ts; renditions: 360p/,
      ],
      [{ stream: 'hls-ts', type: 'delay' }, /ms: /],
      [{ stream: 'hls-ts', type: 'status', code: 200 }, /code: /],
      [{ stream: 'hls-ts', type: 'delay', ms: 10, colour: 'red' }, /unknown parameter\(s\): colour/],
      [{ stream: 'hls-ts', type: 'mpd-stale' }, /mpd-stale applies to dash streams; hls-ts is hls/],
      [{ stream: 'dash', rendition: '360p', type: 'wrong-ast' }, /omit rendition/],
      [{ stream: 'dash', rendition: '240p', type: 'stale' }, /one MPD for all representations/],
      [{ type: 'stale' }, /stream/],
      ['not json', /not valid JSON/],
    ];
    for (const [body, re] of cases) {
      const res =
        typeof body === 'string'
          ? await fetch(`${tb.url}/faults`, { method: 'POST', body })
          : await post(body);
      const json = (await res.json()) as { error: string };
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(json.error).toMatch(re);
    }
  });

  it('lists, removes, expires and logs faults with wall-clock times', async () => {
    const t0 = Date.now();
    const id = await inject({ stream: 'hls-ts', rendition: '144p', type: 'endlist' });
    const short = await inject({ stream: 'hls-fmp4', type: 'delay', ms: 5, durationS: 0.5 });
    const list = (await (await fetch(`${tb.url}/faults`)).json()) as { id: string }[];
    expect(list.map((f) => f.id).sort()).toEqual([id, short].sort());
    expect((await fetch(`${tb.url}/faults/f-unknown`, { method: 'DELETE' })).status).toBe(404);
    await remove(id);
    await until('the short fault to expire', async () => {
      const l = (await (await fetch(`${tb.url}/faults`)).json()) as unknown[];
      return l.length === 0;
    });
    const log = (await (await fetch(`${tb.url}/faults/log?since=${t0}`)).json()) as {
      event: string;
      id: string;
      reason?: string;
      at: string;
      atMs: number;
    }[];
    const mine = log.filter((e) => e.id === id || e.id === short);
    expect(mine.map((e) => [e.id, e.event, e.reason])).toEqual([
      [id, 'inject', undefined],
      [short, 'inject', undefined],
      [id, 'remove', 'api'],
      [short, 'remove', 'expired'],
    ]);
    const expired = mine[3]!;
    expect(Date.parse(expired.at)).toBe(expired.atMs);
    expect(expired.atMs - mine[1]!.atMs).toBeGreaterThanOrEqual(450);
    const types = (await (await fetch(`${tb.url}/faults/types`)).json()) as { type: string }[];
    expect(types.map((t) => t.type)).toContain('publish-delay');
    const scenario = (await (await fetch(`${tb.url}/scenario`)).json()) as {
      name: string;
      steps: { at: number; firedAt?: string }[];
    };
    expect(scenario).toMatchObject({ name: 'idle', steps: [{ at: 3600 }] });
    expect(scenario.steps[0]!.firedAt).toBeUndefined();
  });
});

describe('request faults', () => {
  it('delay: adds latency to the chosen rendition only, and goes away when removed', async () => {
    const id = await inject({ stream: 'hls-ts', rendition: '240p', type: 'delay', ms: 700, on: 'playlists' });
    expect((await timed(url('hls-ts', '240p'))).ms).toBeGreaterThanOrEqual(690);
    expect((await timed(url('hls-ts', '360p'))).ms).toBeLessThan(500);
    const seg = (await playlist(url('hls-ts', '240p'))).segments.at(-1)!;
    expect((await timed(new URL(seg.uri, url('hls-ts', '240p')).href)).ms).toBeLessThan(500); // playlists only
    await remove(id);
    expect((await timed(url('hls-ts', '240p'))).ms).toBeLessThan(500);
  });

  it('status: 503 for a sequence range, a deterministic rate, and playlists', async () => {
    const p = await playlist(url('hls-ts', '360p'));
    const [a, b] = p.segments.slice(-2).map((s) => s.seq) as [number, number];
    const id = await inject({
      stream: 'hls-ts',
      rendition: '360p',
      type: 'status',
      code: 503,
      fromSeq: b,
      toSeq: b,
    });
    expect((await fetch(segUrl('hls-ts', '360p', a))).status).toBe(200);
    const hit = await fetch(segUrl('hls-ts', '360p', b));
    expect(hit.status).toBe(503);
    expect(hit.headers.get('access-control-allow-origin')).toBe('*');
    expect((await fetch(segUrl('hls-ts', '240p', b))).status).toBe(200);
    await remove(id);
    expect((await fetch(segUrl('hls-ts', '360p', b))).status).toBe(200);

    const half = await inject({
      stream: 'hls-fmp4',
      rendition: '144p',
      type: 'status',
      code: 500,
      rate: 0.5,
    });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await fetch(segUrl('hls-fmp4', '144p', a))).status);
    expect(codes.filter((c) => c === 500)).toHaveLength(3);
    expect(codes.filter((c) => c === 200)).toHaveLength(3);
    await remove(half);

    const pl = await inject({ stream: 'hls-ts', type: 'status', code: 404, on: 'playlists' });
    expect((await fetch(url('hls-ts'))).status).toBe(404);
    expect((await fetch(url('hls-ts', '144p'))).status).toBe(404);
    expect((await fetch(url('hls-fmp4', '144p'))).status).toBe(200);
    await remove(pl);
    expect((await fetch(url('hls-ts', '144p'))).status).toBe(200);
  });

  it('hang: accepts and never answers; removal releases the socket and restores service', async () => {
    const seq = lastSequence(await playlist(url('hls-ts', '144p')));
    const id = await inject({ stream: 'hls-ts', rendition: '144p', type: 'hang' });
    const t0 = performance.now();
    await expect(
      fetch(segUrl('hls-ts', '144p', seq), { signal: AbortSignal.timeout(800) }),
    ).rejects.toThrow();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(750);
    const pending = fetch(segUrl('hls-ts', '144p', seq)).then(
      (r) => r.status,
      () => 'dropped',
    );
    await new Promise((r) => setTimeout(r, 200));
    await remove(id);
    expect(await pending).toBe('dropped');
    expect((await fetch(segUrl('hls-ts', '144p', seq))).status).toBe(200);
  });

  it('throttle: caps bytes per second', async () => {
    const seq = lastSequence(await playlist(url('hls-ts', '360p')));
    const free = await timed(segUrl('hls-ts', '360p', seq));
    const bps = 40_000;
    const id = await inject({ stream: 'hls-ts', rendition: '360p', type: 'throttle', bytesPerSecond: bps });
    const slow = await timed(segUrl('hls-ts', '360p', seq));
    expect(slow.bytes).toBe(free.bytes);
    expect(slow.ms).toBeGreaterThanOrEqual((slow.bytes / bps) * 1000 * 0.85);
    await remove(id);
    expect((await timed(segUrl('hls-ts', '360p', seq))).ms).toBeLessThan(
      Math.max(300, (slow.bytes / bps) * 500),
    );
  });

  it('segment-404: DASH segments of one representation answer 404', async () => {
    const id = await inject({ stream: 'dash', rendition: '240p', type: 'segment-404' });
    const mpd = await getText(url('dash'));
    const ast = Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)![1]!);
    const n = Math.floor((Date.now() - ast) / 1000 / SEG_S) - 1;
    const pad = String(n).padStart(5, '0');
    expect((await fetch(`${tb.url}/dash/chunk-stream1-${pad}.m4s`)).status).toBe(404);
    expect((await fetch(`${tb.url}/dash/chunk-stream0-${pad}.m4s`)).status).toBe(200);
    expect((await fetch(`${tb.url}/dash/init-stream1.m4s`)).status).toBe(200);
    await remove(id);
    expect((await fetch(`${tb.url}/dash/chunk-stream1-${pad}.m4s`)).status).toBe(200);
  });
});

describe('playlist faults', () => {
  it('stale: one rendition stops advancing within one target duration while the others advance (acceptance)', async () => {
    const list = (await (await fetch(`${tb.url}/streams`)).json()) as Testbed['streams'];
    const hls = list.find((s) => s.protocol === 'hls' && s.renditions.length >= 3)!;
    const [staleR, healthyR] = hls.renditions as [
      { name: string; url: string },
      { name: string; url: string },
    ];
    const id = await inject({ stream: hls.id, rendition: staleR.name, type: 'stale' });
    const frozenRes = await fetch(staleR.url);
    const frozen = await frozenRes.text();
    const lastModified = frozenRes.headers.get('last-modified');
    const h0 = lastSequence(await playlist(healthyR.url));
    await until(
      'the healthy rendition to advance 2 segments',
      async () => lastSequence(await playlist(healthyR.url)) >= h0 + 2,
    );
    const later = await fetch(staleR.url);
    expect(await later.text()).toBe(frozen);
    expect(later.headers.get('last-modified')).toBe(lastModified);
    await remove(id);
    expect(lastSequence(parseMediaPlaylist(await getText(staleR.url)))).toBeGreaterThanOrEqual(h0 + 1);
  });

  it('mseq-regress: EXT-X-MEDIA-SEQUENCE goes back by `by` over the same segments', async () => {
    await until(
      'a media sequence above 4',
      async () => (await playlist(url('hls-fmp4', '360p'))).mediaSequence > 4,
    );
    const id = await inject({ stream: 'hls-fmp4', rendition: '360p', type: 'mseq-regress', by: 4 });
    const p = await playlist(url('hls-fmp4', '360p'));
    expect(p.mediaSequence).toBe(seqOfUri(p.segments[0]!.uri) - 4);
    await remove(id);
    const q = await playlist(url('hls-fmp4', '360p'));
    expect(q.mediaSequence).toBe(seqOfUri(q.segments[0]!.uri));
  });

  it('drop-segment: the next segment is missing from the playlist, then restored', async () => {
    const u = url('hls-ts', '360p');
    const target = lastSequence(await playlist(u)) + 1;
    const id = await inject({ stream: 'hls-ts', rendition: '360p', type: 'drop-segment' });
    await until('the segment after the dropped one', async () => {
      const p = await playlist(u);
      return p.segments.some((s) => seqOfUri(s.uri) === target + 1) ? p : undefined;
    }).then((p) => {
      const uris = p.segments.map((s) => seqOfUri(s.uri));
      expect(uris).not.toContain(target);
      expect(uris).toContain(target - 1);
    });
    expect((await playlist(url('hls-ts', '240p'))).segments.map((s) => seqOfUri(s.uri))).toContain(target);
    await remove(id);
    expect((await playlist(u)).segments.map((s) => seqOfUri(s.uri))).toContain(target);
  });

  it('discontinuity: #EXT-X-DISCONTINUITY before the next segment', async () => {
    const u = url('hls-ts', '240p');
    const target = lastSequence(await playlist(u)) + 1;
    const id = await inject({ stream: 'hls-ts', rendition: '240p', type: 'discontinuity' });
    const p = await until('the marked segment', async () => {
      const q = await playlist(u);
      return q.segments.some((s) => s.seq === target) ? q : undefined;
    });
    const marked = p.segments.filter((s) => s.tags.includes('#EXT-X-DISCONTINUITY')).map((s) => s.seq);
    expect(marked).toEqual([target]);
    await remove(id);
    expect(await getText(u)).not.toContain('#EXT-X-DISCONTINUITY');
  });

  it('pdt-jump: PROGRAM-DATE-TIME jumps by offsetMs from the next segment on', async () => {
    const u = url('hls-ts', '144p');
    const target = lastSequence(await playlist(u)) + 1;
    const id = await inject({ stream: 'hls-ts', rendition: '144p', type: 'pdt-jump', offsetMs: 10_000 });
    const p = await until('the jumped segment', async () => {
      const q = await playlist(u);
      return q.segments.some((s) => s.seq === target) ? q : undefined;
    });
    const i = p.segments.findIndex((s) => s.seq === target);
    const gap = p.segments[i]!.pdt! - p.segments[i - 1]!.pdt!;
    expect(gap - p.segments[i - 1]!.duration * 1000).toBeGreaterThan(9_900);
    expect(gap - p.segments[i - 1]!.duration * 1000).toBeLessThan(10_100);
    await remove(id);
    const q = await playlist(u);
    const j = q.segments.findIndex((s) => s.seq === target);
    expect(q.segments[j]!.pdt! - q.segments[j - 1]!.pdt!).toBeLessThan(1500);
  });

  it('endlist: #EXT-X-ENDLIST mid-event, gone after removal', async () => {
    const id = await inject({ stream: 'hls-fmp4', type: 'endlist' });
    expect(await getText(url('hls-fmp4', '144p'))).toMatch(/#EXT-X-ENDLIST\n$/);
    expect(await getText(url('hls-fmp4', 'audio'))).toContain('#EXT-X-ENDLIST');
    expect(await getText(url('hls-ts', '144p'))).not.toContain('#EXT-X-ENDLIST');
    await remove(id);
    expect(await getText(url('hls-fmp4', '144p'))).not.toContain('#EXT-X-ENDLIST');
  });

  it('publish-delay: segments are published D ms later (and newer ones answer 404)', async () => {
    const D = 2000;
    const delayed = url('hls-ts', '360p');
    const reference = url('hls-ts', '240p');
    const id = await inject({ stream: 'hls-ts', rendition: '360p', type: 'publish-delay', ms: D });
    // When does the next segment show up in each playlist?
    const target = lastSequence(await playlist(reference)) + 1;
    const firstSeen = async (u: string) => {
      await until(
        `${u} to list ${target}`,
        async () => lastSequence(await playlist(u)) >= target,
        15_000,
        50,
      );
      return Date.now();
    };
    const [tRef, tDelayed] = await Promise.all([firstSeen(reference), firstSeen(delayed)]);
    console.log(`publish-delay ${D} ms: segment ${target} published ${tDelayed - tRef} ms later`);
    expect(Math.abs(tDelayed - tRef - D)).toBeLessThan(400);
    // A segment the reference lists but the delayed playlist does not yet: 404 on the delayed rendition.
    const newest = lastSequence(await playlist(reference));
    if (newest > lastSequence(await playlist(delayed)))
      expect((await fetch(segUrl('hls-ts', '360p', newest))).status).toBe(404);
    await remove(id);
    expect(lastSequence(await playlist(delayed))).toBeGreaterThanOrEqual(newest);
  });
});

describe('DASH MPD faults', () => {
  const ast = (mpd: string) => Date.parse(/availabilityStartTime="([^"]+)"/.exec(mpd)![1]!);
  const publishTime = (mpd: string) => /publishTime="([^"]+)"/.exec(mpd)![1]!;

  it('mpd-stale: publishTime and content stop changing', async () => {
    const id = await inject({ stream: 'dash', type: 'mpd-stale' });
    const frozen = await getText(url('dash'));
    const p0 = publishTime(frozen);
    await new Promise((r) => setTimeout(r, SEG_S * 2500));
    expect(await getText(url('dash'))).toBe(frozen);
    await remove(id);
    await until('publishTime to move again', async () => publishTime(await getText(url('dash'))) !== p0);
  });

  it('wrong-ast: availabilityStartTime off by offsetMs', async () => {
    const before = ast(await getText(url('dash')));
    const id = await inject({ stream: 'dash', type: 'wrong-ast', offsetMs: -30_000 });
    expect(ast(await getText(url('dash')))).toBe(before - 30_000);
    await remove(id);
    expect(ast(await getText(url('dash')))).toBe(before);
  });

  it('publish-delay on DASH: AST later by D and the live-edge segment hidden', async () => {
    const before = ast(await getText(url('dash')));
    const id = await inject({ stream: 'dash', type: 'publish-delay', ms: 3000 });
    expect(ast(await getText(url('dash')))).toBe(before + 3000);
    const n = Math.floor((Date.now() - before) / 1000 / SEG_S) - 1; // complete without the delay
    expect((await fetch(`${tb.url}/dash/chunk-stream0-${String(n).padStart(5, '0')}.m4s`)).status).toBe(404);
    await remove(id);
    expect((await fetch(`${tb.url}/dash/chunk-stream0-${String(n).padStart(5, '0')}.m4s`)).status).toBe(200);
  });
});

/** ffmpeg's decode of one TS segment: the stream types it holds and its audio as s16 mono 48 kHz samples. */
async function decodeTs(bytes: Uint8Array): Promise<{ audio: Int16Array; streams: string }> {
  const run = (args: string[]) =>
    new Promise<Buffer>((resolve, reject) => {
      const child = spawn('ffmpeg', ['-v', 'error', '-i', 'pipe:0', ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', () => {});
      child.stdin.on('error', () => {});
      child.stdin.end(bytes);
      child.once('error', reject);
      child.once('close', () => resolve(Buffer.concat(out)));
    });
  const streams = await new Promise<string>((resolve, reject) => {
    const child = spawn('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv', '-']);
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    child.stdin.on('error', () => {});
    child.stdin.end(bytes);
    child.once('error', reject);
    child.once('close', () => resolve(text));
  });
  const raw = streams.includes('audio')
    ? await run(['-map', '0:a:0', '-f', 's16le', '-ac', '1', '-ar', '48000', 'pipe:1'])
    : Buffer.alloc(0);
  return { audio: new Int16Array(raw.buffer, raw.byteOffset, raw.length >> 1), streams };
}

describe('viewer-signal faults (audio, A/V sync, resolution)', () => {
  const newestSegment = async (rendition: string, after: number): Promise<Uint8Array> => {
    const seq = await until(`a ${rendition} segment after ${after}`, async () => {
      const p = await playlist(url('hls-ts', rendition));
      const last = lastSequence(p);
      return last > after ? last : undefined;
    });
    return new Uint8Array(await (await fetch(segUrl('hls-ts', rendition, seq))).arrayBuffer());
  };
  const lastSeq = async (rendition: string) => lastSequence(await playlist(url('hls-ts', rendition)));

  it('the source carries audio with a sync tone, and audio-silence makes it digital silence', async () => {
    const healthy = await decodeTs(await newestSegment('audio', 0));
    expect(healthy.streams).toContain('audio');
    expect(healthy.audio.length).toBeGreaterThan(40_000);
    // At least the -30 dBFS bed (1 s segments: every other one holds a -6 dBFS burst).
    expect(Math.max(...healthy.audio)).toBeGreaterThan(800);
    expect((await post({ stream: 'hls-ts', type: 'audio-silence', rendition: 'audio' })).status).toBe(400);
    const id = await inject({ stream: 'hls-ts', type: 'audio-silence' });
    // Segments whose capture started after the injection are silent from their first sample. Which segment
    // that is depends on how far the encoder lags the painter (raw frames queued under load), so look at the
    // next few segments (bounded) for the first that is entirely silent.
    let seq = await lastSeq('audio');
    let silent: Awaited<ReturnType<typeof decodeTs>> | undefined;
    for (let tries = 0; tries < 8 && !silent; tries++) {
      const seg = await decodeTs(await newestSegment('audio', seq));
      seq = await lastSeq('audio');
      if (seg.audio.length > 0 && seg.audio.every((s) => s === 0)) silent = seg;
    }
    expect(silent, 'an entirely silent audio segment within 8 segments of the injection').toBeDefined();
    expect(silent?.audio.length).toBeGreaterThan(40_000);
    await remove(id);
    expect(
      tb.faults.log().some((e) => e.id === id && e.type === 'audio-silence' && e.event === 'remove'),
    ).toBe(true);
  });

  it('av-drift: the sync tone moves by shiftMs in the audio', async () => {
    const toneStart = (a: Int16Array) => a.findIndex((s) => Math.abs(s) > 8000) / 48;
    const t0 = toneStart((await decodeTs(await newestSegment('audio', 0))).audio);
    expect((await post({ stream: 'hls-ts', type: 'av-drift', shiftMs: 5000 })).status).toBe(400);
    const id = await inject({ stream: 'hls-ts', type: 'av-drift', shiftMs: 300 });
    const from = (await lastSeq('audio')) + 1;
    // The first segment after injection that holds a burst (one per sync period).
    let shifted = -1;
    for (let seq = from; shifted < 0; seq++)
      shifted = toneStart((await decodeTs(await newestSegment('audio', seq))).audio);
    await remove(id);
    // Each burst starts a sync period; the shift moves it 300 ms later within the segment (same phase otherwise).
    expect(Math.abs(((shifted - t0 + 1000) % 1000) - 300)).toBeLessThanOrEqual(30);
  });

  it('audio-drop: TS segments lose their audio track, the master still declares it', async () => {
    expect((await post({ stream: 'hls-fmp4', type: 'audio-drop' })).status).toBe(400);
    expect((await post({ stream: 'hls-ts', type: 'audio-drop', rendition: '360p' })).status).toBe(400);
    const id = await inject({ stream: 'hls-ts', type: 'audio-drop', rendition: 'audio' });
    const dropped = await decodeTs(await newestSegment('audio', 0));
    expect(dropped.streams).not.toContain('audio');
    expect(await getText(url('hls-ts'))).toContain('TYPE=AUDIO');
    await remove(id);
    expect((await decodeTs(await newestSegment('audio', 0))).streams).toContain('audio');
  });

  it('resolution-lie: the master and the MPD claim another size for one rendition only', async () => {
    expect((await post({ stream: 'hls-ts', type: 'resolution-lie' })).status).toBe(400);
    expect((await post({ stream: 'hls-ts', type: 'resolution-lie', rendition: 'audio' })).status).toBe(400);
    const a = await inject({ stream: 'hls-ts', type: 'resolution-lie', rendition: '240p' });
    const b = await inject({
      stream: 'dash',
      type: 'resolution-lie',
      rendition: '360p',
      width: 1920,
      height: 1080,
    });
    const master = await getText(url('hls-ts'));
    expect(master).toMatch(/RESOLUTION=852x480[^\n]*\n240p\/index\.m3u8/);
    expect(master).toMatch(/RESOLUTION=640x360[^\n]*\n360p\/index\.m3u8/);
    const mpd = await getText(url('dash'));
    expect(mpd).toMatch(/<Representation id="0"[^>]*width="1920" height="1080"/);
    expect(mpd).toMatch(/<Representation id="1"[^>]*width="426" height="240"/);
    await remove(a);
    await remove(b);
    expect(await getText(url('hls-ts'))).toMatch(/RESOLUTION=426x240[^\n]*\n240p\/index\.m3u8/);
  });
});
