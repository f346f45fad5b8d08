/**
 * Captions that stop in DASH. An HLS subtitle rendition has a media playlist that can stop advancing
 * (checks/stale.ts). A DASH text Representation under a $Number$ SegmentTemplate has no list to go stale:
 * the MPD names a new segment every segment duration by the clock, whatever the packager does. What stops
 * is the content: a packager whose caption source died re-serves its last caption segment (the same old
 * cues under every new $Number$). So the live-edge text segments the probe fetches are read (WebVTT, cue
 * times on the Period timeline): a segment whose cues all ended before its own start carries no current
 * caption; when that lasts more than `factor` x the segment duration since the last segment with a current
 * cue, the rendition is `captions-stale` (warning). A segment without any cue is no evidence either way:
 * nobody speaking is normal, so quiet captions are never stale.
 */
import { redactUrl } from '../../../shared/log.js';
import type { Observation } from '../model.js';

export interface VttCue {
  /** Seconds on the cue timeline. */
  start: number;
  end: number;
}

const TIMING = /^\s*((?:\d+:)?\d{2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{2}:\d{2}\.\d{3})/;

function seconds(ts: string): number {
  const parts = ts.split(':').map(Number);
  return parts.reduce((acc, p) => acc * 60 + p, 0);
}

/** The cues of a WebVTT document (timing lines only); [] when it is not WebVTT or has none. */
export function vttCues(text: string, max = 2000): VttCue[] {
  if (!/^\uFEFF?WEBVTT/.test(text)) return [];
  const out: VttCue[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = TIMING.exec(line);
    if (!m) continue;
    const start = seconds(m[1]!);
    const end = seconds(m[2]!);
    if (Number.isFinite(start) && Number.isFinite(end)) out.push({ start, end });
    if (out.length >= max) break;
  }
  return out;
}

export interface TextSegment {
  uri: string;
  /** Period time of the segment (s) and its duration (s), from the MPD. */
  start: number;
  duration: number;
}

/** A cue still showing this close after the segment start counts as current (rounding of cue times). */
const CURRENT_EPSILON_S = 0.05;

/** Follows one DASH text Representation's live-edge segments; one instance per Representation. */
export class CaptionClock {
  /** Period time (s) up to which captions were current: the end of the last segment with a current cue. */
  private currentUntil: number | undefined;
  private open = false;

  /**
   * One fetched live-edge text segment. Returns `stale` the first time the captions are judged stale (then
   * held until recovered), `recovered` when a current cue comes back after that.
   */
  add(
    seg: TextSegment,
    body: string,
    factor: number,
  ): { stale?: Observation; recovered?: boolean } | undefined {
    if (!Number.isFinite(seg.start) || !(seg.duration > 0)) return undefined;
    const cues = vttCues(body);
    if (cues.length === 0) return undefined;
    const end = seg.start + seg.duration;
    const newest = Math.max(...cues.map((c) => c.end));
    if (newest > seg.start + CURRENT_EPSILON_S) {
      this.currentUntil = Math.max(this.currentUntil ?? end, end);
      if (!this.open) return undefined;
      this.open = false;
      return { recovered: true };
    }
    // Only cues from before this segment: old captions served again.
    this.currentUntil ??= seg.start;
    const lagS = end - this.currentUntil;
    if (this.open || lagS <= factor * seg.duration) return undefined;
    this.open = true;
    const summary = `text segment ${redactUrl(seg.uri).split('/').pop()} (${seg.start.toFixed(1)}-${end.toFixed(1)} s) carries only cues that ended by ${newest.toFixed(1)} s: no current caption for ${lagS.toFixed(1)} s > ${factor} x segment duration ${seg.duration} s`;
    const lines = body.split(/\r?\n/).filter((l) => TIMING.test(l));
    return {
      stale: {
        code: 'captions-stale',
        severity: 'warning',
        summary,
        evidence: [
          summary,
          `GET ${redactUrl(seg.uri)}`,
          ...lines.slice(0, 3),
          ...(lines.length > 3 ? [`… ${lines.length - 3} more cue(s)`] : []),
        ]
          .join('\n')
          .slice(0, 3800),
      },
    };
  }
}
