import type { BoardCell, Outcome } from './api.js';

/** A cell's state: the same glyph and word everywhere, colour only reinforces it. */
export type CellState = 'ok' | 'degraded' | 'failed' | 'probe-error' | 'nodata';

export const STATE: Record<CellState, { glyph: string; word: string }> = {
  ok: { glyph: '✓', word: 'ok' },
  degraded: { glyph: '▲', word: 'degraded' },
  failed: { glyph: '✗', word: 'failed' },
  'probe-error': { glyph: '⚠', word: 'probe' },
  nodata: { glyph: '·', word: 'no data' },
};

export const outcomeState = (o: Outcome): CellState => o;

/** A cell with nothing newer than this shows "no data". */
export const STALE_MS = 5 * 60_000;

/**
 * What a cell says: the last report decides failed / probe-error (what is true now); trouble earlier in
 * the minute that has recovered shows as degraded; no report in 5 minutes is "no data".
 */
export function cellState(c: BoardCell | undefined, now: number): CellState {
  if (!c) return 'nodata';
  const last = c.latest[0];
  if (!last || now - Date.parse(last.at) > STALE_MS) return 'nodata';
  if (last.outcome === 'failed') return 'failed';
  if (last.outcome === 'probe-error') return 'probe-error';
  if (last.outcome === 'degraded') return 'degraded';
  const o = c.w1m?.outcomes;
  if (o && (o.failed > 0 || o.degraded > 0)) return 'degraded';
  return 'ok';
}

export type Figure = 'startup' | 'g2g' | 'success' | 'rebuffer';
export const FIGURES: Record<Figure, string> = {
  startup: 'startup p95',
  g2g: 'glass-to-glass p50',
  success: 'success ratio',
  rebuffer: 'rebuffer',
};

export const seconds = (ms: number | undefined | null): string =>
  ms === undefined || ms === null
    ? '–'
    : ms < 10_000
      ? `${(ms / 1000).toFixed(1)}s`
      : `${Math.round(ms / 1000)}s`;

/** The figure of a cell from its 1m window (5m when the minute is empty), or from its 5m window. */
export function cellFigure(
  c: BoardCell | undefined,
  fig: Figure,
  state: CellState,
  window: '1m' | '5m' = '1m',
): string {
  if (!c || state === 'nodata') return '';
  const w = window === '1m' && c.w1m && c.w1m.count > 0 ? c.w1m : c.w5m;
  const judged = w.outcomes.ok + w.outcomes.degraded + w.outcomes.failed;
  const success = `${w.outcomes.ok + w.outcomes.degraded}/${judged} ok`;
  // A failing cell always says how many probes succeeded: "0/4 ok" is the figure that matters then.
  if (fig === 'success' || state === 'failed' || judged === 0) return judged ? success : '';
  let v: string | undefined;
  if (fig === 'startup') v = secondsOr(w.metrics.startup_ms?.p95 ?? c.latest[0]?.startup_ms);
  else if (fig === 'g2g') v = secondsOr(w.metrics.g2g_p50_ms?.p50 ?? c.latest[0]?.g2g_ms);
  else if (w.rebuffer_ratio !== null) v = `${(w.rebuffer_ratio * 100).toFixed(1)}%`;
  // A figure the probe kind does not measure (stream probes have no startup): the success ratio instead.
  return v ?? success;
}

function secondsOr(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : seconds(ms);
}

export const ago = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
};

export const time = (iso: string | number): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '–' : d.toLocaleTimeString([], { hour12: false });
};

export const pad2 = (n: number) => String(n).padStart(2, '0');
export const utcClock = (d: Date) =>
  `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
export const localClock = (d: Date) =>
  `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
