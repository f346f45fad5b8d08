/**
 * MPD parsing with mpd-parser, behind a guard: a dynamic MPD without timeShiftBufferDepth, a SegmentTimeline
 * with a huge @r, or a zero @duration makes mpd-parser expand millions of segments synchronously. Untrusted
 * input is sized first and capped or rejected, so a hostile MPD costs a finding, not the agent.
 */

import type { ParseResult, RenditionType } from '../model.js';
import { mpd, parseMpdXml, type XmlElement } from '../vendor.js';

export interface DashSegment {
  uri: string;
  /** Seconds since availabilityStartTime (mpd-parser's presentationTime). */
  start: number;
  duration: number;
}

export interface DashRepresentation {
  id: string;
  type: RenditionType;
  bandwidth?: number;
  segments: DashSegment[];
}

export interface MpdSnapshot {
  kind: 'mpd';
  text: string;
  fetchedAt: number;
  dynamic: boolean;
  /** Epoch ms. */
  publishTime?: number;
  availabilityStartTime?: number;
  minimumUpdatePeriodS?: number;
  maxSegmentDurationS?: number;
  utcTiming?: { scheme: string; value: string };
  /** Any SegmentTimeline: then the MPD itself must advance for new segments to exist. */
  hasTimeline: boolean;
  representations: DashRepresentation[];
  warnings: string[];
}

/** Largest segment list we let mpd-parser expand per representation. */
export const MAX_SEGMENTS_PER_REPRESENTATION = 5000;
/**
 * Budgets of one MPD after template inheritance (a SegmentTemplate of an AdaptationSet applies to each of its
 * Representations): past either, the MPD is refused as `manifest-too-large` before anything is expanded.
 */
export const MAX_REPRESENTATIONS = 2000;
export const MAX_SEGMENTS_TOTAL = 200_000;
/** Prefix of the parse error of an MPD over those budgets (the error type the monitor reports). */
export const MANIFEST_TOO_LARGE = 'manifest-too-large';

/** How many Representations a SegmentTemplate / SegmentList applies to, by where it sits. */
function inheritedBy(tpl: XmlElement): number {
  const parent = tpl.parentNode as XmlElement | null;
  if (!parent || parent.tagName === 'Representation') return 1;
  return Math.max(1, list(parent, 'Representation').length);
}

/** Window we impose on a dynamic MPD that declares none (or an absurd one), in seconds. */
const MAX_WINDOW_S = 600;

/** xs:duration (PnYnMnDTnHnMnS) to seconds; undefined when invalid. */
export function isoDurationS(v: string | null | undefined): number | undefined {
  if (!v) return undefined;
  const m =
    /^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      v.trim(),
    );
  if (!m || v.trim() === 'P' || v.trim().endsWith('T')) return undefined;
  const [, neg, y, mo, d, h, mi, s] = m;
  const total =
    Number(y ?? 0) * 31536000 +
    Number(mo ?? 0) * 2592000 +
    Number(d ?? 0) * 86400 +
    Number(h ?? 0) * 3600 +
    Number(mi ?? 0) * 60 +
    Number(s ?? 0);
  return Number.isFinite(total) ? (neg ? -total : total) : undefined;
}

function attr(el: XmlElement, name: string): string | undefined {
  const v = el.getAttribute(name);
  return v === null || v === '' ? undefined : v;
}

function date(el: XmlElement, name: string): number | undefined {
  const v = attr(el, name);
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function list(el: XmlElement, tag: string): XmlElement[] {
  const nodes = el.getElementsByTagName(tag);
  const out: XmlElement[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i];
    if (n) out.push(n);
  }
  return out;
}

/** mpd-parser's own xs:duration reading (unanchored, 0 when nothing matches): the guard must see what it sees. */
function mpdParserDuration(v: string | undefined): number {
  if (!v) return 0;
  const m = /P(?:(\d*)Y)?(?:(\d*)M)?(?:(\d*)D)?(?:T(?:(\d*)H)?(?:(\d*)M)?(?:([\d.]*)S)?)?/.exec(v);
  if (!m) return 0;
  const f = (x: string | undefined) => Number.parseFloat(x || '0');
  return f(m[1]) * 31536000 + f(m[2]) * 2592000 + f(m[3]) * 86400 + f(m[4]) * 3600 + f(m[5]) * 60 + f(m[6]);
}

/** mpd-parser reads t, d, r, timescale, startNumber with parseInt; @duration with parseInt, else as xs:duration. */
const int = (v: string | undefined): number => (v === undefined ? Number.NaN : Number.parseInt(v, 10));
function durationAttr(v: string): number {
  const n = Number.parseInt(v, 10);
  return Number.isNaN(n) ? mpdParserDuration(v) : n;
}

/**
 * Sizes what mpd-parser would expand, reading attributes exactly as it does; caps the window of dynamic
 * MPDs; returns a reason to reject. Errs on the side of rejecting: a rejected MPD is a reported error, an
 * expanded one could take the agent down.
 */
function guard(root: XmlElement, now: number): string | undefined {
  const dynamic = attr(root, 'type') === 'dynamic';
  const ast = date(root, 'availabilityStartTime');
  const mup = mpdParserDuration(attr(root, 'minimumUpdatePeriod'));
  let window: number;
  if (dynamic) {
    const tsbd = mpdParserDuration(attr(root, 'timeShiftBufferDepth'));
    if (!(tsbd > 0 && tsbd <= MAX_WINDOW_S) || attr(root, 'timeShiftBufferDepth') === undefined) {
      root.setAttribute('timeShiftBufferDepth', `PT${MAX_WINDOW_S}S`);
      window = MAX_WINDOW_S;
    } else window = tsbd;
  } else window = 0;
  // A static presentation (or a dynamic one's r="-1" without a next S) runs to the MPD / Period duration.
  let sourceDuration = mpdParserDuration(attr(root, 'mediaPresentationDuration'));
  for (const p of list(root, 'Period'))
    sourceDuration = Math.max(sourceDuration, mpdParserDuration(attr(p, 'duration')));
  if (!dynamic) window = sourceDuration;
  // How far "now" is from the availability start: r="-1" in a live $Number$ timeline repeats up to it.
  const liveSpan = dynamic && ast !== undefined ? (now - ast) / 1000 + mup : 0;
  const representations = list(root, 'Representation').length;
  if (representations > MAX_REPRESENTATIONS)
    return `${MANIFEST_TOO_LARGE}: ${representations} Representations (> ${MAX_REPRESENTATIONS})`;
  let total = 0;
  const spend = (segments: number, tpl: XmlElement): string | undefined => {
    total += segments * inheritedBy(tpl);
    return total > MAX_SEGMENTS_TOTAL
      ? `${MANIFEST_TOO_LARGE}: templates expand to more than ${MAX_SEGMENTS_TOTAL} segments over all Representations`
      : undefined;
  };
  for (const tpl of [...list(root, 'SegmentTemplate'), ...list(root, 'SegmentList')]) {
    const ts = attr(tpl, 'timescale');
    const timescale = ts === undefined ? 1 : int(ts);
    if (!(timescale > 0)) return `${tpl.tagName}@timescale is not a positive integer`;
    const timelines = list(tpl, 'SegmentTimeline');
    if (timelines.length === 0) {
      const d = attr(tpl, 'duration');
      if (d === undefined) continue;
      const dur = durationAttr(d) / timescale;
      if (!(dur > 0) || !Number.isFinite(dur))
        return `${tpl.tagName}@duration ${d.slice(0, 40)} is not positive`;
      const span = dynamic ? Math.min(window, MAX_WINDOW_S) : window;
      if (span / dur > MAX_SEGMENTS_PER_REPRESENTATION) {
        return `${MANIFEST_TOO_LARGE}: ${tpl.tagName} would expand to ${Math.round(span / dur)} segments (> ${MAX_SEGMENTS_PER_REPRESENTATION})`;
      }
      const over = spend(span / dur, tpl);
      if (over) return over;
      continue;
    }
    let count = 0;
    let t = 0;
    const ss = list(tpl, 'S');
    for (let i = 0; i < ss.length; i++) {
      const s = ss[i]!;
      const d = int(attr(s, 'd'));
      if (!(d > 0)) return 'SegmentTimeline S@d is not a positive integer';
      const r = int(attr(s, 'r')) || 0;
      const st = int(attr(s, 't')) || 0;
      if (i === 0 || st > t) t = st;
      let n = r + 1;
      if (r < 0) {
        const next = ss[i + 1];
        const span = next
          ? (int(attr(next, 't')) - t) / timescale
          : Math.max(liveSpan, sourceDuration) - t / timescale;
        n = Number.isFinite(span) ? span / (d / timescale) : 0;
      }
      if (n > 0) {
        count += n;
        t += d * n;
      }
      if (count > MAX_SEGMENTS_PER_REPRESENTATION) {
        return `${MANIFEST_TOO_LARGE}: SegmentTimeline would expand to more than ${MAX_SEGMENTS_PER_REPRESENTATION} segments`;
      }
    }
    const over = spend(count, tpl);
    if (over) return over;
  }
  return undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function toRepresentation(p: unknown, type: RenditionType): DashRepresentation | undefined {
  const po = obj(p);
  if (!po) return undefined;
  const attrs = obj(po.attributes) ?? {};
  const id = typeof attrs.NAME === 'string' ? attrs.NAME : undefined;
  if (id === undefined) return undefined;
  const segments: DashSegment[] = [];
  for (const s of Array.isArray(po.segments) ? po.segments : []) {
    const so = obj(s);
    if (!so) continue;
    const uri =
      typeof so.resolvedUri === 'string' ? so.resolvedUri : typeof so.uri === 'string' ? so.uri : '';
    segments.push({
      uri,
      start: num(so.presentationTime) ?? Number.NaN,
      duration: num(so.duration) ?? Number.NaN,
    });
  }
  return { id: id.slice(0, 200), type, bandwidth: num(attrs.BANDWIDTH), segments };
}

export function parseMpd(
  text: string,
  fetchedAt: number,
  manifestUri: string,
  clientOffsetMs = 0,
): ParseResult<MpdSnapshot> {
  const warnings: string[] = [];
  let root: XmlElement;
  try {
    const parsed = parseMpdXml(text);
    root = parsed.root;
    for (const e of parsed.errors) if (warnings.length < 5) warnings.push(`XML: ${e}`);
  } catch (err) {
    return { ok: false, error: `not a valid MPD: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
  }
  try {
    const rejected = guard(root, fetchedAt);
    if (rejected) return { ok: false, error: `MPD rejected: ${rejected}` };
    const info = mpd.inheritAttributes(root, {
      manifestUri,
      NOW: fetchedAt,
      clientOffset: clientOffsetMs,
      eventHandler: (e: unknown) => {
        const m = obj(e)?.message;
        if (warnings.length < 5 && typeof m === 'string') warnings.push(m.slice(0, 200));
      },
    });
    const playlists = mpd.toPlaylists(info.representationInfo);
    const m = mpd.toM3u8({
      dashPlaylists: playlists,
      locations: info.locations,
      contentSteering: info.contentSteeringInfo,
      eventStream: info.eventStream,
    });
    const representations: DashRepresentation[] = [];
    for (const p of Array.isArray(m.playlists) ? m.playlists : []) {
      const r = toRepresentation(p, 'video');
      if (r) representations.push(r);
    }
    const groups = obj(m.mediaGroups) ?? {};
    for (const [key, type] of [
      ['AUDIO', 'audio'],
      ['SUBTITLES', 'subtitles'],
    ] as const) {
      for (const byLang of Object.values(obj(groups[key]) ?? {})) {
        for (const rendition of Object.values(obj(byLang) ?? {})) {
          const ro = obj(rendition);
          for (const p of Array.isArray(ro?.playlists) ? (ro.playlists as unknown[]) : []) {
            const r = toRepresentation(p, type);
            if (r && !representations.some((x) => x.id === r.id && x.type === r.type))
              representations.push(r);
          }
        }
      }
    }
    const utc = list(root, 'UTCTiming')[0];
    const scheme = utc ? attr(utc, 'schemeIdUri') : undefined;
    const value = utc ? attr(utc, 'value') : undefined;
    return {
      ok: true,
      value: {
        kind: 'mpd',
        text,
        fetchedAt,
        dynamic: attr(root, 'type') === 'dynamic',
        publishTime: date(root, 'publishTime'),
        availabilityStartTime: date(root, 'availabilityStartTime'),
        minimumUpdatePeriodS: isoDurationS(attr(root, 'minimumUpdatePeriod')),
        maxSegmentDurationS: isoDurationS(attr(root, 'maxSegmentDuration')),
        utcTiming: scheme && value ? { scheme, value } : undefined,
        hasTimeline: list(root, 'SegmentTimeline').length > 0,
        representations,
        warnings,
      },
    };
  } catch (err) {
    return { ok: false, error: `mpd-parser failed: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
  }
}

/** Seconds since availabilityStartTime at which the representation's newest listed segment ends. */
export function edgeEndS(r: DashRepresentation): number | undefined {
  const last = r.segments[r.segments.length - 1];
  if (!last || !Number.isFinite(last.start) || !Number.isFinite(last.duration)) return undefined;
  return last.start + last.duration;
}

export function maxSegmentDurationS(s: MpdSnapshot): number | undefined {
  if (s.maxSegmentDurationS && s.maxSegmentDurationS > 0) return s.maxSegmentDurationS;
  let max = 0;
  for (const r of s.representations) for (const seg of r.segments) if (seg.duration > max) max = seg.duration;
  return max > 0 ? max : undefined;
}
