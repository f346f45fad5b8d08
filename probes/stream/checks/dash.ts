/**
 * DASH live rules (ISO/IEC 23009-1, DASH-IF IOP): publishTime never goes back; a SegmentTimeline MPD keeps
 * advancing (an MPD that stops being updated for well over its refresh period strands every client); the
 * live-edge segment an MPD announces is available by the UTCTiming clock, no earlier and not far later.
 * Codes: publish-time-regression, mpd-stale, dash-availability.
 */

import { type DashRepresentation, edgeEndS, type MpdSnapshot, maxSegmentDurationS } from '../dash/parse.js';
import { clip, iso } from '../evidence.js';
import type { Observation } from '../model.js';

/** The MPD's telling parts for evidence: root element, UTCTiming, the representation, the last S entries. */
export function mpdExcerpt(s: MpdSnapshot | undefined, label: string, repId?: string): string {
  if (!s) return `--- ${label}: (none)`;
  const tags = s.text.match(/<[^!?][^>]{0,600}>/g) ?? [];
  const pick: string[] = [];
  const lastS: string[] = [];
  for (const t of tags) {
    if (/^<(\w+:)?MPD[\s>]/.test(t) || /^<(\w+:)?UTCTiming[\s>]/.test(t)) pick.push(t);
    else if (repId !== undefined && /^<(\w+:)?Representation[\s>]/.test(t) && t.includes(`id="${repId}"`))
      pick.push(t);
    else if (/^<(\w+:)?S[\s/>]/.test(t)) {
      lastS.push(t);
      if (lastS.length > 3) lastS.shift();
    }
  }
  const body = [...pick.slice(0, 4), ...lastS].map((t) => clip(t, 400)).join('\n');
  return `--- ${label} (fetched ${iso(s.fetchedAt)})\n${clip(body, 1600)}`;
}

function ev(summary: string, parts: string[]): string {
  return clip([summary, ...parts].join('\n'), 3800);
}

export function checkPublishTime(prev: MpdSnapshot | undefined, cur: MpdSnapshot): Observation[] {
  if (
    prev?.publishTime === undefined ||
    cur.publishTime === undefined ||
    cur.publishTime >= prev.publishTime
  ) {
    return [];
  }
  const summary = `MPD@publishTime went back from ${iso(prev.publishTime)} to ${iso(cur.publishTime)}`;
  return [
    {
      code: 'publish-time-regression',
      severity: 'warning',
      summary,
      evidence: ev(summary, [mpdExcerpt(prev, 'previous'), mpdExcerpt(cur, 'current')]),
    },
  ];
}

/**
 * The time an MPD may go without advancing: factor x max(minimumUpdatePeriod, max segment duration). What
 * must advance: the SegmentTimeline's live edge; for a $Number$ template (whose segments follow the clock, the
 * MPD need not change) its publishTime, once it has been seen advancing with every update.
 */
export function mpdStaleLimitMs(
  cur: MpdSnapshot,
  factor: number,
  basis: 'timeline' | 'publishTime' = 'timeline',
): number | undefined {
  if (!cur.dynamic || (basis === 'timeline' && !cur.hasTimeline)) return undefined;
  const unit = Math.max(cur.minimumUpdatePeriodS ?? 0, maxSegmentDurationS(cur) ?? 0);
  return unit > 0 ? factor * unit * 1000 : undefined;
}

export interface MpdStaleInput {
  /** The MPD in which the current live edge first appeared. */
  since: MpdSnapshot;
  cur: MpdSnapshot;
  /** ms since the response that first showed the current live edge (or publishTime). */
  ageMs: number;
  factor: number;
  basis?: 'timeline' | 'publishTime';
}

export function checkMpdStale(i: MpdStaleInput): Observation[] {
  const basis = i.basis ?? 'timeline';
  const limit = mpdStaleLimitMs(i.cur, i.factor, basis);
  if (limit === undefined) return [];
  const age = i.ageMs;
  if (age <= limit) return [];
  const what = basis === 'timeline' ? 'MPD timeline has not advanced' : 'MPD@publishTime has not advanced';
  const summary = `${what} for ${(age / 1000).toFixed(2)} s > ${i.factor} x max(minimumUpdatePeriod ${i.cur.minimumUpdatePeriodS ?? 'none'} s, segment ${maxSegmentDurationS(i.cur) ?? '?'} s)`;
  return [
    {
      code: 'mpd-stale',
      severity: 'critical',
      summary,
      evidence: ev(summary, [mpdExcerpt(i.since, 'live edge first seen'), mpdExcerpt(i.cur, 'current')]),
    },
  ];
}

export interface ClockInput {
  cur: MpdSnapshot;
  /** Server time (UTCTiming) at cur.fetchedAt, epoch ms; our clock when the MPD has no UTCTiming. */
  serverNow: number;
  clockSource: string;
  toleranceMs: number;
  /** How far behind the clock the edge may be (publication delay allowance), ms. */
  behindLimitMs: number;
}

/**
 * Per representation: the newest listed segment becomes available at availabilityStartTime + its end. Listed
 * before that (beyond tolerance) -> clients request a segment that cannot exist yet; far after -> the MPD
 * lags the clock (wrong availabilityStartTime or a stuck packager).
 */
export function checkDashClock(i: ClockInput): Array<{ variant: string; obs: Observation }> {
  const ast = i.cur.availabilityStartTime;
  if (!i.cur.dynamic || ast === undefined) return [];
  const out: Array<{ variant: string; obs: Observation }> = [];
  for (const r of i.cur.representations) {
    const end = edgeEndS(r);
    if (end === undefined) continue;
    const availableAt = ast + end * 1000;
    const ahead = availableAt - i.serverNow;
    if (ahead <= i.toleranceMs && -ahead <= i.behindLimitMs) continue;
    const summary =
      ahead > 0
        ? `live-edge segment of ${r.id} is listed ${(ahead / 1000).toFixed(1)} s before it can be available (${i.clockSource})`
        : `live-edge segment of ${r.id} became available ${(-ahead / 1000).toFixed(1)} s ago: the MPD lags the clock (${i.clockSource})`;
    out.push({ variant: r.id, obs: availabilityObs(summary, i.cur, r, availableAt) });
  }
  return out;
}

export function availabilityObs(
  summary: string,
  cur: MpdSnapshot,
  r: DashRepresentation,
  availableAt?: number,
  request?: string,
): Observation {
  const last = r.segments[r.segments.length - 1];
  const detail = [
    last
      ? `live-edge segment: ${clip(last.uri.split('?')[0] ?? '', 300)} start ${last.start}s duration ${last.duration}s`
      : '',
    availableAt !== undefined ? `availability time: ${iso(availableAt)}` : '',
    request ?? '',
  ].filter(Boolean);
  return {
    code: 'dash-availability',
    severity: 'warning',
    summary,
    evidence: ev(summary, [...detail, mpdExcerpt(cur, 'current', r.id)]),
  };
}
