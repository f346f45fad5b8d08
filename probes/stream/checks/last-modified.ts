/**
 * A playlist served with a Last-Modified older than `factor` x TARGETDURATION against the response's Date
 * header (or our clock when Date is missing): the origin or a cache serves an old copy. Code: last-modified-stale.
 */
import { evidence } from '../evidence.js';
import type { MediaPlaylist, Observation } from '../model.js';

export interface LastModifiedInput {
  lastModified?: string;
  date?: string;
  /** Our wall time at the response, used when Date is absent or invalid. */
  now: number;
  /** The refresh unit in seconds: TARGETDURATION (HLS) or the MPD's update period (DASH). */
  unitS: number | undefined;
  factor: number;
  playlist?: MediaPlaylist;
  what?: string;
}

export function checkLastModified(i: LastModifiedInput): Observation[] {
  if (!i.lastModified || i.unitS === undefined || i.unitS <= 0) return [];
  const lm = Date.parse(i.lastModified);
  if (Number.isNaN(lm)) return [];
  const d = i.date ? Date.parse(i.date) : Number.NaN;
  const ref = Number.isNaN(d) ? i.now : d;
  const age = ref - lm;
  const limit = i.factor * i.unitS * 1000;
  if (age <= limit) return [];
  const summary = `${i.what ?? 'playlist'} Last-Modified is ${(age / 1000).toFixed(1)} s old > ${i.factor} x ${i.unitS} s (${Number.isNaN(d) ? 'against our clock' : 'against Date'})`;
  const headers = `Last-Modified: ${i.lastModified.slice(0, 64)}\nDate: ${(i.date ?? '(none)').slice(0, 64)}`;
  return [
    {
      code: 'last-modified-stale',
      severity: 'warning',
      summary,
      evidence: evidence(
        summary,
        i.playlist ? [{ label: 'current', playlist: i.playlist, tail: 1 }] : [],
        headers,
      ),
      // Against our own clock (no Date header) the age includes how late we read the response.
      ...(Number.isNaN(d) ? { timing: true } : {}),
    },
  ];
}
