import { z } from 'zod';

/**
 * Ids that end up inside NATS subjects (region, target, agent) must be a single subject token:
 * no dots, wildcards or whitespace. One rule for all of them.
 */
export const SubjectToken = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/,
    'use 1-63 letters, digits, "-" or "_" (it becomes a NATS subject token)',
  );

export const IsoTime = z.iso.datetime({ offset: true });

/** Ad hoc targets (a bare URL) get a stable id from the URL, so repeated probes of one URL group together. */
export function adHocTargetId(url: string): string {
  // FNV-1a, 32 bit x2: no crypto import so this stays usable anywhere; collisions only merge ad hoc series.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x811c9dc5) >>> 0;
  }
  return `adhoc-${h1.toString(16).padStart(8, '0')}${h2.toString(16).padStart(8, '0').slice(0, 4)}`;
}

const isTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/** An IANA time zone name (schedules, maintenance windows), UTC when absent. */
export const TimeZone = z.string().default('UTC').refine(isTimeZone, 'unknown IANA time zone');
