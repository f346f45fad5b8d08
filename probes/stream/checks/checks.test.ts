import { describe, expect, it } from 'vitest';
import { fromText, media, T0 } from '../test/playlists.js';
import { checkDiscontinuitySequence } from './discontinuity.js';
import { checkEndlist } from './endlist.js';
import { httpStatusObservation } from './http.js';
import { checkLastModified } from './last-modified.js';
import { checkPdt } from './pdt.js';
import { checkMediaSequence, numberingGap } from './sequence.js';
import { checkStale } from './stale.js';
import { checkExtinf, checkTargetDuration, checkWindow } from './target.js';
import { checkVariantDrift } from './variant-drift.js';

const ctx = { elapsedMs: 2000 };

describe('media sequence', () => {
  it('flags a regression with both MEDIA-SEQUENCE lines as evidence', () => {
    const prev = media({ mseq: 120, count: 6 });
    const cur = media({ mseq: 117, count: 6 });
    const obs = checkMediaSequence(prev, cur, ctx);
    expect(obs.map((o) => o.code)).toEqual(['mseq-regression']);
    expect(obs[0]!.severity).toBe('critical');
    expect(obs[0]!.evidence).toContain('#EXT-X-MEDIA-SEQUENCE:120');
    expect(obs[0]!.evidence).toContain('#EXT-X-MEDIA-SEQUENCE:117');
  });

  it('accepts a window that slides consistently', () => {
    expect(checkMediaSequence(media({ mseq: 10, count: 6 }), media({ mseq: 11, count: 6 }), ctx)).toEqual([]);
    expect(checkMediaSequence(media({ mseq: 10, count: 6 }), media({ mseq: 10, count: 7 }), ctx)).toEqual([]);
  });

  it('flags a changed URI under an unchanged media sequence', () => {
    const prev = media({ mseq: 10, count: 6 });
    const cur = media({ mseq: 10, count: 6, uri: (sn) => (sn === 13 ? 'other_13.ts' : `seg_${sn}.ts`) });
    const obs = checkMediaSequence(prev, cur, ctx);
    expect(obs.map((o) => o.code)).toEqual(['playlist-content-changed']);
    expect(obs[0]!.evidence).toContain('seg_13.ts');
    expect(obs[0]!.evidence).toContain('other_13.ts');
  });

  it('flags segments removed without a media sequence increase', () => {
    const obs = checkMediaSequence(media({ mseq: 10, count: 6 }), media({ mseq: 10, count: 4 }), ctx);
    expect(obs.map((o) => o.code)).toEqual(['playlist-content-changed']);
  });

  it('flags a slide whose overlap changed URI', () => {
    const prev = media({ mseq: 10, count: 6 });
    const cur = media({ mseq: 11, count: 6, uri: (sn) => `seg_${sn + 1}.ts` });
    const obs = checkMediaSequence(prev, cur, ctx);
    expect(obs.map((o) => o.code)).toEqual(['segment-continuity']);
    expect(obs[0]!.summary).toContain('segment 11');
  });

  it('flags a window that jumped past segments never listed, unless we polled too rarely', () => {
    const prev = media({ mseq: 10, count: 6 });
    const cur = media({ mseq: 20, count: 6 });
    expect(checkMediaSequence(prev, cur, ctx).map((o) => o.code)).toEqual(['segment-continuity']);
    expect(checkMediaSequence(prev, cur, { elapsedMs: 60_000 })).toEqual([]);
  });

  it('finds a dropped segment by its file numbering, once', () => {
    const cur = media({ mseq: 10, count: 6, uri: (sn) => `seg_${sn >= 13 ? sn + 1 : sn}.ts` });
    expect(numberingGap(undefined, cur)).toEqual({ sn: 13, fromNum: 12, toNum: 14 });
    const obs = checkMediaSequence(undefined, cur, ctx);
    expect(obs.map((o) => o.code)).toEqual(['segment-continuity']);
    expect(obs[0]!.evidence).toContain('seg_12.ts');
    expect(obs[0]!.evidence).toContain('seg_14.ts');
    const next = media({ mseq: 11, count: 6, uri: (sn) => `seg_${sn >= 13 ? sn + 1 : sn}.ts` });
    expect(checkMediaSequence(cur, next, ctx)).toEqual([]);
  });

  it('does not read time-stamped file names as numbering gaps', () => {
    const cur = media({ mseq: 10, count: 6, uri: (sn) => `chunk_${1700000000 + sn * 2}.ts` });
    expect(numberingGap(undefined, cur)).toBeUndefined();
  });
});

describe('discontinuity sequence', () => {
  it('accepts +1 when a DISCONTINUITY slid out, and 0 when none did', () => {
    const prev = media({ mseq: 10, count: 6, dseq: 4, disc: [10] });
    expect(checkDiscontinuitySequence(prev, media({ mseq: 11, count: 6, dseq: 5 }))).toEqual([]);
    const plain = media({ mseq: 10, count: 6, dseq: 4 });
    expect(checkDiscontinuitySequence(plain, media({ mseq: 11, count: 6, dseq: 4 }))).toEqual([]);
  });

  it('flags a jump without a tag sliding out, and a tag sliding out without an increment', () => {
    const prev = media({ mseq: 10, count: 6, dseq: 4 });
    const obs = checkDiscontinuitySequence(prev, media({ mseq: 11, count: 6, dseq: 7 }));
    expect(obs.map((o) => o.code)).toEqual(['discontinuity-sequence']);
    expect(obs[0]!.evidence).toContain('#EXT-X-DISCONTINUITY-SEQUENCE:4');
    expect(obs[0]!.evidence).toContain('#EXT-X-DISCONTINUITY-SEQUENCE:7');
    const withTag = media({ mseq: 10, count: 6, dseq: 4, disc: [10] });
    expect(checkDiscontinuitySequence(withTag, media({ mseq: 11, count: 6, dseq: 4 }))).toHaveLength(1);
  });
});

describe('target duration', () => {
  it('rounds EXTINF to the nearest integer and counts only new segments', () => {
    const ok = media({ mseq: 10, count: 6, dur: () => 2.4 });
    expect(checkExtinf(undefined, ok)).toEqual([]);
    const prev = media({ mseq: 10, count: 6 });
    const cur = media({ mseq: 11, count: 6, dur: (sn) => (sn === 16 ? 2.5 : 2) });
    const obs = checkExtinf(prev, cur);
    expect(obs.map((o) => o.code)).toEqual(['extinf-over-target']);
    expect(obs[0]!.evidence).toContain('#EXT-X-TARGETDURATION:2');
    expect(obs[0]!.evidence).toContain('#EXTINF:2.500,');
    expect(checkExtinf(cur, media({ mseq: 12, count: 6, dur: (sn) => (sn === 16 ? 2.5 : 2) }))).toEqual([]);
  });

  it('flags a target duration change', () => {
    const obs = checkTargetDuration(media({ mseq: 1, count: 6 }), media({ mseq: 2, count: 6, td: 4 }));
    expect(obs.map((o) => o.code)).toEqual(['target-duration-changed']);
    expect(obs[0]!.evidence).toContain('#EXT-X-TARGETDURATION:4');
  });

  it('flags a live window under 3 x TD once segments are being removed', () => {
    expect(checkWindow(media({ mseq: 5, count: 2 })).map((o) => o.code)).toEqual(['window-too-short']);
    expect(checkWindow(media({ mseq: 0, count: 2 }))).toEqual([]);
    expect(checkWindow(media({ mseq: 5, count: 3 }))).toEqual([]);
    expect(checkWindow(media({ mseq: 5, count: 2, type: 'EVENT' }))).toEqual([]);
    expect(checkWindow(media({ mseq: 5, count: 2, endlist: true }))).toEqual([]);
  });
});

describe('program date time', () => {
  it('accepts PDT that follows EXTINF sums, and a jump at a discontinuity', () => {
    const prev = media({ mseq: 10, count: 6, pdt0: T0 });
    const cur = media({ mseq: 11, count: 6, pdt0: T0 + 2000 });
    expect(checkPdt(prev, cur, 500)).toEqual([]);
    const disc = media({
      mseq: 11,
      count: 6,
      pdt0: T0 + 2000,
      disc: [16],
      pdtShift: (sn) => (sn >= 16 ? 9000 : 0),
    });
    expect(checkPdt(prev, disc, 500)).toEqual([]);
  });

  it('flags a PDT jump inside a playlist', () => {
    const prev = media({ mseq: 10, count: 6, pdt0: T0 });
    const cur = media({ mseq: 11, count: 6, pdt0: T0 + 2000, pdtShift: (sn) => (sn >= 16 ? 5000 : 0) });
    const obs = checkPdt(prev, cur, 500);
    expect(obs.map((o) => o.code)).toEqual(['pdt-drift']);
    expect(obs[0]!.summary).toContain('+5000 ms');
    expect(obs[0]!.evidence).toContain('#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:17.000Z');
  });

  it('flags a segment whose PDT moved between reloads', () => {
    const prev = media({ mseq: 10, count: 6, pdt0: T0 });
    const cur = media({ mseq: 11, count: 6, pdt0: T0 + 2000 + 3000 });
    const obs = checkPdt(prev, cur, 500);
    expect(obs.map((o) => o.code)).toEqual(['pdt-drift']);
    expect(obs[0]!.summary).toContain('moved by +3000 ms');
  });
});

describe('stale, endlist, last-modified', () => {
  it('flags no new segment for more than 1.5 x TD', () => {
    const p = media({ mseq: 10, count: 6 });
    expect(checkStale({ since: p, cur: p, ageMs: 3000, factor: 1.5 })).toEqual([]);
    const obs = checkStale({ since: p, cur: p, ageMs: 3100, factor: 1.5 });
    expect(obs.map((o) => o.code)).toEqual(['playlist-stale']);
    expect(obs[0]!.evidence).toContain('seg_15.ts');
    const ended = media({ mseq: 10, count: 6, endlist: true });
    expect(checkStale({ since: ended, cur: ended, ageMs: 60_000, factor: 1.5 })).toEqual([]);
  });

  it('flags ENDLIST appearing in a live playlist; a VOD at first load is only a warning', () => {
    const live = media({ mseq: 10, count: 6 });
    const ended = media({ mseq: 11, count: 6, endlist: true });
    const obs = checkEndlist(live, ended, true);
    expect(obs.map((o) => [o.code, o.severity])).toEqual([['endlist-in-live', 'critical']]);
    expect(obs[0]!.evidence).toContain('#EXT-X-ENDLIST');
    expect(checkEndlist(ended, media({ mseq: 11, count: 6, endlist: true }), true)).toEqual([]);
    expect(checkEndlist(undefined, ended, true)[0]!.severity).toBe('critical');
    expect(checkEndlist(undefined, ended, false)[0]!.severity).toBe('warning');
    expect(checkEndlist(undefined, live, true)).toEqual([]);
  });

  it('flags Last-Modified older than 3 x TD against Date', () => {
    const date = 'Wed, 01 May 2024 12:00:10 GMT';
    const base = { date, now: 0, unitS: 2, factor: 3 };
    expect(checkLastModified({ ...base, lastModified: 'Wed, 01 May 2024 12:00:05 GMT' })).toEqual([]);
    const obs = checkLastModified({ ...base, lastModified: 'Wed, 01 May 2024 12:00:03 GMT' });
    expect(obs.map((o) => o.code)).toEqual(['last-modified-stale']);
    expect(obs[0]!.evidence).toContain('Last-Modified: Wed, 01 May 2024 12:00:03 GMT');
    expect(checkLastModified({ ...base, lastModified: 'garbage' })).toEqual([]);
    // Against the server's Date the age is the stream's; against our clock (no Date) a late read adds to
    // it, so the finding is one our own lateness can explain.
    expect(obs[0]!.timing).toBeUndefined();
    const ours = checkLastModified({
      now: Date.parse(date),
      unitS: 2,
      factor: 3,
      lastModified: 'Wed, 01 May 2024 12:00:03 GMT',
    });
    expect(ours.map((o) => [o.code, o.timing])).toEqual([['last-modified-stale', true]]);
  });
});

describe('variant drift', () => {
  it('names only the rendition that drifted', () => {
    const ok = (sn: number) => media({ mseq: sn - 5, count: 6 });
    const entries = [
      { variant: 'a.m3u8', group: 'video', playlist: ok(100) },
      { variant: 'b.m3u8', group: 'video', playlist: ok(101) },
      { variant: 'c.m3u8', group: 'video', playlist: ok(96) },
      { variant: 'audio.m3u8', group: 'audio:aud', playlist: ok(40) },
    ];
    const out = checkVariantDrift(entries, 2);
    expect(out.map((o) => o.variant)).toEqual(['c.m3u8']);
    expect(out[0]!.obs.code).toBe('variant-mseq-drift');
    expect(out[0]!.obs.evidence).toContain('#EXT-X-MEDIA-SEQUENCE:91');
    expect(checkVariantDrift(entries.slice(0, 2), 2)).toEqual([]);
  });
});

describe('http status', () => {
  it('carries the request and the playlist lines of the segment', () => {
    const p = media({ mseq: 10, count: 6 });
    const o = httpStatusObservation({
      resource: 'segment',
      url: 'http://o/x/seg_14.ts',
      status: 404,
      sn: 14,
      playlist: p,
    });
    expect(o.code).toBe('http-status');
    expect(o.severity).toBe('warning');
    expect(o.evidence).toContain('GET http://o/x/seg_14.ts');
    expect(o.evidence).toContain('seg_14.ts');
    expect(httpStatusObservation({ resource: 'master', url: 'http://o/m.m3u8', status: 500 }).severity).toBe(
      'critical',
    );
  });
});

describe('evidence', () => {
  it('redacts query strings of segment URIs and key URIs', () => {
    const p = fromText(
      '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-KEY:METHOD=AES-128,URI="k.key?token=s3cr3t"\n#EXTINF:2,\nseg_1.ts?token=s3cr3t&e=1\n#EXTINF:2,\nseg_2.ts?token=s3cr3t\n#EXTINF:2,\nhttps://cdn.example/seg_3.ts?sig=s3cr3t\n',
    );
    const obs = checkStale({ since: p, cur: p, ageMs: 10_000, factor: 1.5 });
    expect(obs[0]!.evidence).not.toContain('s3cr3t');
    expect(obs[0]!.evidence).toContain('seg_3.ts?sig=redacted');
  });
});

describe('cross-rendition discontinuities', () => {
  it('names the one rendition whose discontinuity numbering differs from the others', async () => {
    const { checkVariantDiscontinuity } = await import('./variant-drift.js');
    const a = media({ mseq: 10, count: 6, dseq: 2 });
    const b = media({ mseq: 11, count: 6, dseq: 2 });
    const c = media({ mseq: 10, count: 6, dseq: 2, disc: [14] });
    const out = checkVariantDiscontinuity([
      { variant: 'a.m3u8', group: 'video', playlist: a },
      { variant: 'b.m3u8', group: 'video', playlist: b },
      { variant: 'c.m3u8', group: 'video', playlist: c },
    ]);
    expect(out.map((o) => [o.variant, o.obs.code])).toEqual([['c.m3u8', 'discontinuity-sequence']]);
    expect(out[0]!.obs.evidence).toContain('#EXT-X-DISCONTINUITY\n');
    const aligned = media({ mseq: 10, count: 6, dseq: 2, disc: [14] });
    const aligned2 = media({ mseq: 11, count: 6, dseq: 2, disc: [14] });
    expect(
      checkVariantDiscontinuity([
        { variant: 'a', group: 'video', playlist: aligned },
        { variant: 'b', group: 'video', playlist: aligned2 },
      ]),
    ).toEqual([]);
  });
});
