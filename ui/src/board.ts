import { html } from 'htm/preact';
import { Component } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, type BoardCell, type BoardData, type Report, type ReportLine, type TargetInfo } from './api.js';
import { type CellState, cellFigure, cellState, FIGURES, type Figure, STATE, time } from './format.js';
import { feed, reportsReplayed } from './live.js';
import { wall } from './router.js';
import { Store, useStore, useTick } from './store.js';

/** One cell as the page keeps it: the server's figures, patched by live reports between reads. */
interface CellModel {
  cell: BoardCell;
  state: CellState;
  /** When the state last changed (a ring marks cells that moved in the last minute). */
  changedAt: number;
}

interface BoardModel {
  loaded: boolean;
  targets: TargetInfo[];
  regions: string[];
  cells: Map<string, CellModel>;
  /** Bumped on every change (the cells map may be updated in place). */
  version: number;
}

const key = (target: string, region: string) => `${target}\u0000${region}`;
export const board = new Store<BoardModel>({
  loaded: false,
  targets: [],
  regions: [],
  cells: new Map(),
  version: 0,
});

let pending: BoardModel | undefined;
let flushing = false;
/**
 * Live reports arrive by the hundred per second on a big fleet: they patch the model at once and the view
 * re-renders at most every 100 ms (well within the "cell updates within a second" promise).
 */
function publish(m: BoardModel): void {
  pending = m;
  if (flushing) return;
  flushing = true;
  setTimeout(() => {
    flushing = false;
    if (pending) board.set({ ...pending });
    pending = undefined;
  }, 100);
}
const current = () => pending ?? board.get();

function withState(cell: BoardCell, prev: CellModel | undefined, now: number): CellModel {
  const state = cellState(cell, now);
  const changedAt = prev && prev.state !== state ? now : (prev?.changedAt ?? 0);
  return { cell, state, changedAt };
}

async function load(): Promise<void> {
  const data = await api<BoardData>('/v1/board');
  feed.touch();
  const now = Date.now();
  const prev = current();
  const cells = new Map<string, CellModel>();
  for (const c of data.cells) {
    const k = key(c.target, c.region);
    const old = prev.cells.get(k);
    // A live report newer than the server's read wins (the read may have been computed just before it).
    const newer = old && (old.cell.latest[0]?.at ?? '') > (c.latest[0]?.at ?? '');
    const cell = newer ? { ...c, latest: old.cell.latest } : c;
    cells.set(k, withState(cell, old, now));
  }
  const regions = new Set(data.regions);
  for (const m of cells.values()) regions.add(m.cell.region);
  publish({
    loaded: true,
    targets: data.targets,
    regions: [...regions].sort(),
    cells,
    version: prev.version + 1,
  });
}

function onReport(r: Report): void {
  if (r.mode === 'watch' && r.seq === 0) return;
  const m = current();
  const k = key(r.target.id, r.region);
  const old = m.cells.get(k);
  const line: ReportLine = {
    id: r.id,
    at: r.endedAt,
    agentId: r.agentId,
    probe: r.probe,
    outcome: r.outcome,
    reasons: r.reasons.slice(0, 3),
    findings: [...new Set(r.findings.map((f) => f.code))],
    startup_ms: r.metrics.startup_ms,
    g2g_ms: r.metrics.g2g_p50_ms,
  };
  const empty = {
    count: 0,
    outcomes: { ok: 0, degraded: 0, failed: 0, 'probe-error': 0 },
    success_ratio: null,
    rebuffer_ratio: null,
    metrics: {},
    findings: {},
  };
  const base: BoardCell = old?.cell ?? {
    target: r.target.id,
    region: r.region,
    w1m: null,
    w5m: empty,
    latest: [],
  };
  const w1 = base.w1m ?? empty;
  const cell: BoardCell = {
    ...base,
    w1m: {
      ...w1,
      count: w1.count + 1,
      outcomes: { ...w1.outcomes, [r.outcome]: w1.outcomes[r.outcome] + 1 },
    },
    latest: [line, ...base.latest].slice(0, 5),
  };
  const next = withState(cell, old, Date.now());
  if (old && m.regions.includes(r.region)) {
    // A known cell: updated in place and re-rendered alone. Hundreds of reports a second on a big fleet
    // cost one small DOM update each, not a board render (nor a copy of the map).
    m.cells.set(k, next);
    for (const fn of cellSubs.get(k) ?? []) fn();
    return;
  }
  // A new cell or region changes the grid itself.
  const cells = new Map(m.cells);
  cells.set(k, next);
  const regions = m.regions.includes(r.region) ? m.regions : [...m.regions, r.region].sort();
  publish({ ...m, regions, cells, version: m.version + 1 });
}

/** Cells listen to their own key: a live report re-renders its cell only. */
const cellSubs = new Map<string, Set<() => void>>();
function subscribeCell(k: string, fn: () => void): () => void {
  let set = cellSubs.get(k);
  if (!set) {
    set = new Set();
    cellSubs.set(k, set);
  }
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}

let started = false;
function startBoard(): void {
  if (started) return;
  started = true;
  const reload = () => void load().catch(() => undefined);
  reload();
  // The windows' figures (p95s) come from the server; live reports only move states and counts between reads.
  setInterval(reload, 5000);
  feed.on('report', (r) => onReport(r as Report));
  // Counts move with live reports: a resume that replayed them needs no re-read (it would count them twice).
  feed.on('reconnected', (d) => reportsReplayed(d) || reload());
}

// ------------------------------------------------------------------------------------------------ view

interface CellProps {
  target: string;
  region: string;
  figure: Figure;
  window: '1m' | '5m';
  moved: boolean;
}

function tooltip(m: CellModel | undefined): string {
  if (!m || m.cell.latest.length === 0) return 'no report in the last 5 minutes';
  const lines = m.cell.latest.map(
    (l) =>
      `${time(l.at)} ${l.outcome} ${l.probe} ${l.agentId}${l.reasons.length ? ` — ${l.reasons.join('; ')}` : ''}`,
  );
  const codes = [...new Set(m.cell.latest.flatMap((l) => l.findings))];
  if (codes.length) lines.push(`findings: ${codes.join(', ')}`);
  return lines.join('\n');
}

/**
 * A cell renders from the board's map; it re-renders when its own model changes (its subscription), when the
 * figure choice or its "moved" ring changes, and never because another cell moved.
 */
class Cell extends Component<CellProps> {
  private rendered: CellModel | undefined;
  private off: (() => void) | undefined;
  override componentDidMount(): void {
    const k = key(this.props.target, this.props.region);
    this.off = subscribeCell(k, () => {
      if (current().cells.get(k) !== this.rendered) this.forceUpdate();
    });
  }
  override componentWillUnmount(): void {
    this.off?.();
  }
  /** The tooltip (last reports, findings) is built when someone looks, not on every live update. */
  private readonly explain = (ev: Event) => {
    (ev.currentTarget as HTMLElement).title = tooltip(
      current().cells.get(key(this.props.target, this.props.region)),
    );
  };
  override shouldComponentUpdate(n: CellProps): boolean {
    const p = this.props;
    return (
      p.figure !== n.figure ||
      p.window !== n.window ||
      p.moved !== n.moved ||
      current().cells.get(key(n.target, n.region)) !== this.rendered
    );
  }
  override render({ target, region, figure, window, moved }: CellProps) {
    const model = current().cells.get(key(target, region));
    this.rendered = model;
    const state = model?.state ?? 'nodata';
    const s = STATE[state];
    const fig = cellFigure(model?.cell, figure, state, window);
    const at = model?.cell.latest[0]?.at;
    // the ring also appears between board renders, when a live report changes the state
    const ring = moved || (!!model && model.changedAt > 0 && Date.now() - model.changedAt < 60_000);
    return html`<a
      class=${`cell s-${state}${ring ? ' moved' : ''}`}
      href=${`/target/${encodeURIComponent(target)}?region=${encodeURIComponent(region)}`}
      onMouseEnter=${this.explain}
      onFocus=${this.explain}
      aria-label=${`${target} in ${region}: ${s.word}${fig ? `, ${fig}` : ''}`}
      data-state=${state}
      data-at=${at ? Date.parse(at) : undefined}
    ><span class="glyph" aria-hidden="true">${s.glyph}</span><span class="fig">${fig || s.word}</span>${
      fig && state !== 'ok' ? html`<span class="word">${s.word}</span>` : null
    }</a>`;
  }
}

const DEFAULT_GROUPS = ['cdn', 'event', 'source'];

function matches(t: TargetInfo, tokens: string[], regions: Set<string>): boolean {
  return tokens.every((tok) => {
    if (regions.has(tok)) return true;
    const eq = tok.indexOf('=');
    if (eq > 0) {
      const k = tok.slice(0, eq);
      const v = tok.slice(eq + 1);
      if (k === 'region') return true;
      return (t.labels[k] ?? '').toLowerCase().includes(v);
    }
    return (
      t.id.toLowerCase().includes(tok) ||
      (t.name ?? '').toLowerCase().includes(tok) ||
      Object.values(t.labels).some((v) => v.toLowerCase().includes(tok))
    );
  });
}

export function Board() {
  startBoard();
  const m = useStore(board);
  const now = useTick(5000);
  const q = new URLSearchParams(location.search);
  const [filter, setFilter] = useState(q.get('filter') ?? '');
  const [figure, setFigure] = useState<Figure>((q.get('figure') as Figure) || 'startup');
  const [win, setWin] = useState<'1m' | '5m'>(q.get('window') === '5m' ? '5m' : '1m');
  const labelKeys = useMemo(
    () => [...new Set(m.targets.flatMap((t) => Object.keys(t.labels)))].sort(),
    [m.targets],
  );
  const [groupBy, setGroupBy] = useState<string | undefined>(q.get('group') ?? undefined);
  const group = groupBy ?? DEFAULT_GROUPS.find((g) => labelKeys.includes(g)) ?? labelKeys[0] ?? '';

  // Targets: the registered ones plus any ad-hoc target with reports.
  const targets = useMemo(() => {
    const all = new Map(m.targets.map((t) => [t.id, t]));
    for (const c of m.cells.values())
      if (!all.has(c.cell.target)) all.set(c.cell.target, { id: c.cell.target, labels: {} });
    return [...all.values()].sort((a, b) => a.id.localeCompare(b.id));
  }, [m.targets, m.cells]);

  const tokens = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const regionSet = new Set(m.regions.map((r) => r.toLowerCase()));
  const regionTokens = tokens.flatMap((t) =>
    regionSet.has(t) ? [t] : t.startsWith('region=') ? [t.slice(7)] : [],
  );
  const regions = regionTokens.length
    ? m.regions.filter((r) => regionTokens.some((t) => r.toLowerCase().includes(t)))
    : m.regions;
  const shown = targets.filter((t) => matches(t, tokens, regionSet));

  const groups = new Map<string, TargetInfo[]>();
  for (const t of shown) {
    const g = group ? `${group}=${t.labels[group] ?? '—'}` : '';
    let list = groups.get(g);
    if (!list) {
      list = [];
      groups.set(g, list);
    }
    list.push(t);
  }
  const rowCount = shown.length + (group ? groups.size : 0) + 1;

  // Wall mode: the grid fills the screen; type scales with the row height so 20 x 8 fits 1920x1080.
  const gridRef = useRef<HTMLDivElement>(null);
  const [fit, setFit] = useState({ font: 18, row: 40 });
  useLayoutEffect(() => {
    if (!wall) return;
    const resize = () => {
      const el = gridRef.current;
      if (!el) return;
      const top = el.getBoundingClientRect().top;
      // Few rows stay readable-sized instead of stretching to the bottom of the screen.
      const row = Math.min(110, (innerHeight - top - 8) / Math.max(rowCount, 1) - 3);
      const colW = (innerWidth - 16) / (regions.length + 1.6);
      setFit({ row, font: Math.max(10, Math.min(44, row * 0.5, colW / 6)) });
    };
    resize();
    addEventListener('resize', resize);
    return () => removeEventListener('resize', resize);
  }, [rowCount, regions.length]);

  useEffect(() => {
    if (wall) return;
    const u = new URL(location.href);
    for (const [k, v] of [
      ['filter', filter],
      ['figure', figure === 'startup' ? '' : figure],
      ['window', win === '1m' ? '' : win],
      ['group', groupBy ?? ''],
    ] as const) {
      if (v) u.searchParams.set(k, v);
      else u.searchParams.delete(k);
    }
    history.replaceState(null, '', u);
  }, [filter, figure, groupBy, win]);

  const counts: Record<CellState, number> = { ok: 0, degraded: 0, failed: 0, 'probe-error': 0, nodata: 0 };
  for (const t of shown) for (const r of regions) counts[m.cells.get(key(t.id, r))?.state ?? 'nodata']++;

  return html`<main class="board-view">
    ${
      !wall &&
      html`<div class="controls">
        <label>Filter <input type="search" value=${filter} placeholder="target, label=value or region"
          onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} /></label>
        <label>Figure <select value=${figure} onChange=${(e: Event) => setFigure((e.target as HTMLSelectElement).value as Figure)}>
          ${Object.entries(FIGURES).map(([k, v]) => html`<option value=${k}>${v}</option>`)}
        </select></label>
        <label>Window <select value=${win} onChange=${(e: Event) => setWin((e.target as HTMLSelectElement).value === '5m' ? '5m' : '1m')}>
          <option value="1m">1m</option><option value="5m">5m</option>
        </select></label>
        <label>Group by <select value=${group} onChange=${(e: Event) => setGroupBy((e.target as HTMLSelectElement).value)}>
          <option value="">(none)</option>
          ${labelKeys.map((k) => html`<option value=${k}>${k}</option>`)}
        </select></label>
        <span class="legend">${(Object.keys(STATE) as CellState[]).map(
          (s) =>
            html`<span class=${`pill s-${s}`}>${STATE[s].glyph} ${STATE[s].word} <b>${counts[s]}</b></span>`,
        )}</span>
        <a class="wall-link" href="/?wall=1">wall mode</a>
      </div>`
    }
    ${!m.loaded && html`<p class="muted">Loading the board…</p>`}
    ${m.loaded && shown.length === 0 && html`<p class="muted">No target${filter ? ' matches the filter' : ' yet: register one (POST /v1/targets) or run a sweep'}.</p>`}
    ${
      shown.length > 0 &&
      html`<div class="grid" ref=${gridRef} role="table" aria-label="targets by region"
        style=${
          wall
            ? `grid-template-columns: minmax(6em, max-content) repeat(${regions.length}, minmax(0, 1fr)); font-size:${fit.font.toFixed(1)}px; grid-template-rows: repeat(${rowCount}, ${fit.row.toFixed(1)}px);`
            : `grid-template-columns: minmax(6em, max-content) repeat(${regions.length}, minmax(0, 14em));`
        }>
        <div class="corner" role="columnheader">target \\ region</div>
        ${regions.map((r) => html`<div class="colhead" role="columnheader">${r}</div>`)}
        ${[...groups.entries()].map(
          ([g, list]) => html`
            ${g && html`<div class="grouphead" role="rowheader" style=${`grid-column: 1 / span ${regions.length + 1}`}>${g}</div>`}
            ${list.map(
              (t) => html`
                <a class="rowhead" role="rowheader" href=${`/target/${encodeURIComponent(t.id)}`} title=${t.name ?? t.id}>${t.id}</a>
                ${regions.map((r) => {
                  const cm = m.cells.get(key(t.id, r));
                  return html`<${Cell} key=${r} target=${t.id} region=${r} figure=${figure} window=${win}
                    moved=${!!cm && cm.changedAt > 0 && now - cm.changedAt < 60_000} />`;
                })}`,
            )}`,
        )}
      </div>`
    }
  </main>`;
}
