/**
 * HTTP outcome of a master, media playlist, MPD or segment request: non-2xx statuses, and transport failures
 * (refused, reset, timeout) which leave viewers just as stuck. Code: http-status.
 */
import { evidence } from '../evidence.js';
import type { MediaPlaylist, Observation, Severity } from '../model.js';

export type Resource = 'master' | 'media playlist' | 'MPD' | 'segment';

export interface HttpFailure {
  resource: Resource;
  url: string;
  status?: number;
  /** Transport error or timeout when there is no status. */
  error?: string;
  /** The request timed out: our own lateness can explain that (a status cannot). */
  timedOut?: boolean;
  /** For a segment: its media sequence number and the playlist that listed it. */
  sn?: number;
  playlist?: MediaPlaylist;
}

export function httpStatusObservation(f: HttpFailure): Observation {
  const what = f.status !== undefined ? `HTTP ${f.status}` : `no response (${f.error ?? 'error'})`;
  const severity: Severity = f.resource === 'segment' ? 'warning' : 'critical';
  const summary = `${f.resource}${f.sn !== undefined ? ` ${f.sn}` : ''}: ${what}`;
  return {
    code: 'http-status',
    severity,
    summary,
    evidence: evidence(
      summary,
      f.playlist && f.sn !== undefined
        ? [
            {
              label: 'playlist listing it',
              playlist: f.playlist,
              header: ['#EXT-X-MEDIA-SEQUENCE'],
              sns: [f.sn],
            },
          ]
        : [],
      `GET ${f.url}`,
    ),
    ...(f.timedOut && f.status === undefined ? { timing: true } : {}),
  };
}
