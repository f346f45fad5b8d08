/**
 * Stage 5, silence: Alertmanager matchers (=, !=, =~, !~ on labels; regexes anchored) between starts_at
 * and ends_at, optionally only inside a weekly maintenance window (recurrence: days, HH:MM, duration, tz).
 * A silenced alert keeps its state and is not sent; if it still fires when the silence ends it is sent
 * then. Resolve notices of alerts already paged are always sent (an open incident must close).
 */
import { compileAnchored, type SafeRegex } from '../../shared/regex.js';
import type { Labels, Matcher, Recurrence, Silence } from './schema.js';
import { durationMs, WEEKDAYS } from './schema.js';

// Matchers run on RE2 (linear time): a silence or route regex from the API cannot stall the evaluator.
const regexCache = new Map<string, SafeRegex>();
function anchored(re: string): SafeRegex {
  let r = regexCache.get(re);
  if (!r) {
    r = compileAnchored(re);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(re, r);
  }
  return r;
}

export function matcherMatches(m: Matcher, labels: Labels): boolean {
  const v = labels[m.name] ?? '';
  const hit = m.is_regex ? anchored(m.value).test(v) : v === m.value;
  return m.is_equal ? hit : !hit;
}

export function matchesAll(matchers: Matcher[], labels: Labels): boolean {
  return matchers.every((m) => matcherMatches(m, labels));
}

interface LocalDate {
  y: number;
  mo: number;
  d: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function partsIn(tz: string, ms: number): LocalDate & { h: number; mi: number; s: number } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(tz, f);
  }
  const p: Record<string, string> = {};
  for (const x of f.formatToParts(new Date(ms))) p[x.type] = x.value;
  return {
    y: Number(p.year),
    mo: Number(p.month),
    d: Number(p.day),
    h: Number(p.hour),
    mi: Number(p.minute),
    s: Number(p.second),
    weekday: WEEKDAYS.indexOf((p.weekday ?? '').toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]),
  };
}

/** Epoch ms of a wall-clock time in a time zone (DST-aware: the offset is taken at the result). */
export function zonedEpoch(tz: string, y: number, mo: number, d: number, h: number, mi: number): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  let guess = asUtc;
  for (let i = 0; i < 2; i++) {
    const p = partsIn(tz, guess);
    const shown = Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s);
    guess = asUtc - (shown - guess);
  }
  return guess;
}

/** The maintenance window occurrence containing `now`, if any: [start, end) epoch ms. */
export function occurrenceAt(r: Recurrence, now: number): [number, number] | undefined {
  const dur = durationMs(r.duration);
  const [hh, mm] = r.start.split(':').map(Number) as [number, number];
  const days = new Set(r.days.map((d) => WEEKDAYS.indexOf(d)));
  // An occurrence that started up to 8 days ago may still run (durations up to a week).
  for (let k = 0; k <= 8; k++) {
    const day = partsIn(r.tz, now - k * 86_400_000);
    if (!days.has(day.weekday)) continue;
    const start = zonedEpoch(r.tz, day.y, day.mo, day.d, hh, mm);
    if (start <= now && now < start + dur) return [start, start + dur];
  }
  return undefined;
}

export type SilenceStatus = 'active' | 'pending' | 'expired';

export function silenceStatus(s: Silence, now: number): SilenceStatus {
  if (now >= Date.parse(s.ends_at)) return 'expired';
  if (now < Date.parse(s.starts_at)) return 'pending';
  if (s.recurrence && !occurrenceAt(s.recurrence, now)) return 'pending';
  return 'active';
}

/** Ids of the silences muting these labels now. */
export function silencedBy(labels: Labels, silences: Silence[], now: number): string[] {
  return silences
    .filter((s) => silenceStatus(s, now) === 'active' && matchesAll(s.matchers, labels))
    .map((s) => s.id);
}
