/**
 * The entry document (HLS master playlist, DASH MPD) could not be used on a reload: an HTTP error, no
 * response (refused, reset, timeout) or a body that does not parse. Players that start now, or re-read it
 * (variant switches, MPD updates), fail. Code: manifest-unavailable, critical, variant `master` / `mpd`;
 * once per failed reload, so a watch interval while it lasts always has it.
 */
import { evidence, iso } from '../evidence.js';
import type { Observation } from '../model.js';

export interface ManifestFailure {
  what: 'master playlist' | 'MPD';
  url: string;
  status?: number;
  /** Transport error or timeout when there is no status. */
  error?: string;
  /** The request timed out (no answer within our timeout): our own lateness can explain that. */
  timedOut?: boolean;
  /** Parse error of a 2xx body. */
  invalid?: string;
  /** Failed reloads in a row, this one included. */
  failures: number;
  /** Wall time of the last reload that worked, if any. */
  lastOkAt?: number;
}

export function manifestUnavailable(f: ManifestFailure): Observation {
  const why =
    f.status !== undefined
      ? `HTTP ${f.status}`
      : f.invalid !== undefined
        ? `not a valid ${f.what} (${f.invalid.slice(0, 200)})`
        : `no response (${f.error ?? 'error'})`;
  const since = f.lastOkAt !== undefined ? `; last loaded ${iso(f.lastOkAt)}` : '; never loaded in this run';
  const summary = `${f.what} unavailable: ${why}${f.failures > 1 ? ` (${f.failures} reloads in a row)` : ''}${since}`;
  return {
    code: 'manifest-unavailable',
    severity: 'critical',
    summary,
    evidence: evidence(summary, [], `GET ${f.url}`),
    // A probe whose loop was blocked fires its timeout before it reads an answer that may have arrived.
    ...(f.timedOut && f.status === undefined && f.invalid === undefined ? { timing: true } : {}),
  };
}
