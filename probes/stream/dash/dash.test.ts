import { describe, expect, it } from 'vitest';
import { checkDashClock, checkMpdStale, checkPublishTime, mpdStaleLimitMs } from '../checks/dash.js';
import { mpdText } from '../test/mpds.js';
import { edgeEndS, isoDurationS, parseMpd } from './parse.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const AST = NOW - 3600_000;
const URL_ = 'http://o/live/manifest.mpd';

function parse(text: string, at = NOW) {
  const r = parseMpd(text, at, URL_);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('MPD parsing', () => {
  it('lists video and audio representations with their live edge', () => {
    const m = parse(mpdText({ ast: AST, first: 1794, last: 1799, utc: '/time' }));
    expect(m.dynamic).toBe(true);
    expect(m.hasTimeline).toBe(true);
    expect(m.minimumUpdatePeriodS).toBe(2);
    expect(m.utcTiming?.value).toBe('/time');
    expect(m.representations.map((r) => `${r.type}:${r.id}`).sort()).toEqual([
      'audio:a128',
      'video:v360',
      'video:v720',
    ]);
    const v = m.representations.find((r) => r.id === 'v720')!;
    expect(v.segments).toHaveLength(6);
    expect(edgeEndS(v)).toBe(3600);
    expect(v.segments.at(-1)!.uri).toBe('http://o/live/v720/seg_1799.m4s');
  });

  it('rejects what would expand without bound, instead of hanging', () => {
    expect(parseMpd(mpdText({ ast: AST, first: 0, last: 0, r: '100000000' }), NOW, URL_).ok).toBe(false);
    const zero = mpdText({ ast: AST, first: 0, last: 3 }).replaceAll('d="2000"', 'd="0"');
    expect(parseMpd(zero, NOW, URL_).ok).toBe(false);
    const huge = `<MPD type="dynamic" availabilityStartTime="1970-01-01T00:00:00Z" minimumUpdatePeriod="PT2S"><Period start="PT0S"><AdaptationSet mimeType="video/mp4"><SegmentTemplate media="$Number$.m4s" duration="1" timescale="1000"/><Representation id="v" bandwidth="1"/></AdaptationSet></Period></MPD>`;
    const r = parseMpd(huge, NOW, URL_);
    expect(r.ok).toBe(false);
    expect(parseMpd('<html>nope</html>', NOW, URL_).ok).toBe(false);
    expect(parseMpd('', NOW, URL_).ok).toBe(false);
  });

  it('caps the window of a $Number$ MPD that declares none', () => {
    const t = `<MPD type="dynamic" availabilityStartTime="2000-01-01T00:00:00Z" minimumUpdatePeriod="PT2S"><Period start="PT0S"><AdaptationSet mimeType="video/mp4"><SegmentTemplate media="$Number$.m4s" duration="2" timescale="1"/><Representation id="v" bandwidth="1"/></AdaptationSet></Period></MPD>`;
    const m = parse(t);
    expect(m.representations[0]!.segments.length).toBeLessThanOrEqual(301);
  });

  it('reads xs:durations', () => {
    expect(isoDurationS('PT2S')).toBe(2);
    expect(isoDurationS('PT1M0.5S')).toBe(60.5);
    expect(isoDurationS('P1DT1H')).toBe(90000);
    expect(isoDurationS('P')).toBeUndefined();
    expect(isoDurationS('2')).toBeUndefined();
  });
});

describe('DASH checks', () => {
  it('flags a publishTime regression', () => {
    const a = parse(mpdText({ ast: AST, first: 1794, last: 1799, publish: NOW }));
    const b = parse(mpdText({ ast: AST, first: 1795, last: 1800, publish: NOW - 60_000 }));
    const obs = checkPublishTime(a, b);
    expect(obs.map((o) => o.code)).toEqual(['publish-time-regression']);
    expect(obs[0]!.evidence).toContain('publishTime="2024-05-01T11:59:00.000Z"');
    expect(checkPublishTime(b, a)).toEqual([]);
  });

  it('flags a timeline that stops advancing for 1.5 x max(MUP, segment)', () => {
    const a = parse(mpdText({ ast: AST, first: 1794, last: 1799 }));
    expect(mpdStaleLimitMs(a, 1.5)).toBe(3000);
    expect(checkMpdStale({ since: a, cur: a, ageMs: 2900, factor: 1.5 })).toEqual([]);
    const obs = checkMpdStale({ since: a, cur: a, ageMs: 3100, factor: 1.5 });
    expect(obs.map((o) => [o.code, o.severity])).toEqual([['mpd-stale', 'critical']]);
    expect(obs[0]!.evidence).toContain('<S t=');
  });

  it('flags a live edge listed before it is available, or far behind the clock', () => {
    const a = parse(mpdText({ ast: AST, first: 1794, last: 1799 }));
    const base = { cur: a, clockSource: 'test', toleranceMs: 1000, behindLimitMs: 10_000 };
    expect(checkDashClock({ ...base, serverNow: NOW + 200 })).toEqual([]);
    const early = checkDashClock({ ...base, serverNow: NOW - 5000 });
    expect(early.map((e) => e.variant).sort()).toEqual(['a128', 'v360', 'v720']);
    expect(early[0]!.obs.code).toBe('dash-availability');
    expect(early[0]!.obs.summary).toContain('before it can be available');
    const late = checkDashClock({ ...base, serverNow: NOW + 30_000 });
    expect(late[0]!.obs.summary).toContain('lags the clock');
  });
});
