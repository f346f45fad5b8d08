import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  type Alert,
  api,
  type InjectorView,
  type Report,
  type SeriesData,
  type Sweep,
  type TargetInfo,
} from '../api.js';
import { Chart, type Line } from '../chart.js';
import { STATE, seconds, time } from '../format.js';
import { feed, reportsReplayed } from '../live.js';
import { usePoll } from '../store.js';

interface ChartDef {
  title: string;
  metric: string;
  agg?: 'p50' | 'p95';
  fmt: (v: number) => string;
  integer?: boolean;
  yRange?: [number, number];
}

const ms = (v: number) => seconds(v);
const pct = (v: number) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
const count = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

function chartsFor(protocol: string | undefined): ChartDef[] {
  return [
    { title: 'Startup p95', metric: 'startup_ms', agg: 'p95', fmt: ms },
    { title: 'Glass-to-glass p50', metric: 'g2g_p50_ms', agg: 'p50', fmt: ms },
    protocol === 'dash'
      ? { title: 'DASH latency p50', metric: 'dash_latency_p50_ms', agg: 'p50', fmt: ms }
      : { title: 'PDT latency p50', metric: 'pdt_latency_p50_ms', agg: 'p50', fmt: ms },
    { title: 'Rebuffer ratio', metric: 'rebuffer_ratio', fmt: pct },
    { title: 'Success ratio', metric: 'success_ratio', fmt: pct, yRange: [0, 1.05] },
    { title: 'Findings', metric: 'findings', fmt: count, integer: true },
  ];
}
const ERRORS = ['http', 'network', 'player', 'conformance'] as const;

const seriesUrl = (id: string, metric: string, agg?: string, region?: string) =>
  `/v1/series?target=${encodeURIComponent(id)}&metric=${metric}&window=1h&step=15s${agg ? `&agg=${agg}` : ''}${
    region ? `&region=${encodeURIComponent(region)}` : ''
  }`;

interface Loaded {
  times: number[];
  charts: { def: ChartDef; lines: Line[] }[];
  errors: Line[];
  bands: [number, number][];
  marks: number[];
}

async function loadAll(
  id: string,
  protocol: string | undefined,
  region: string | undefined,
): Promise<Loaded> {
  const defs = chartsFor(protocol);
  const [series, errs, alerts, history, sweeps] = await Promise.all([
    Promise.all(defs.map((d) => api<SeriesData>(seriesUrl(id, d.metric, d.agg, region)))),
    Promise.all(ERRORS.map((c) => api<SeriesData>(seriesUrl(id, `errors_${c}`, undefined, region)))),
    api<Alert[]>(`/v1/alerts?target=${encodeURIComponent(id)}`).catch(() => []),
    api<Alert[]>(`/v1/alerts/history?target=${encodeURIComponent(id)}&limit=50`).catch(() => []),
    api<Sweep[]>('/v1/sweeps').catch(() => []),
  ]);
  feed.touch();
  const times = (series[0]?.times ?? []).map((t) => t / 1000);
  const now = Date.now() / 1000;
  const bands: [number, number][] = [...alerts, ...history]
    .filter((a) => a.fired_at)
    .map((a) => [
      Date.parse(a.fired_at as string) / 1000,
      a.resolved_at ? Date.parse(a.resolved_at) / 1000 : now,
    ]);
  const marks = sweeps
    .filter((s) => s.targets.some((t) => t.id === id))
    .map((s) => Date.parse(s.createdAt) / 1000)
    .filter((t) => t >= (times[0] ?? now));
  return {
    times,
    charts: defs.map((def, i) => ({
      def,
      lines: (series[i]?.series ?? []).map((s) => ({ label: s.region, values: s.values })),
    })),
    // errors by category: summed over the regions shown
    errors: errs
      .map((e, i) => ({
        label: ERRORS[i] as string,
        values: times.map((_, k) => {
          let sum: number | null = null;
          for (const s of e.series) {
            const v = s.values[k];
            if (v !== null && v !== undefined) sum = (sum ?? 0) + v;
          }
          return sum;
        }),
      }))
      .filter((l) => l.values.some((v) => v !== null)),
    bands,
    marks,
  };
}

/** Charts with data first: a figure this target's probes do not measure is a one-line note at the end. */
const hasData = (lines: Line[]) => lines.some((l) => l.values.some((v) => v !== null));

const STAGES: [string, string, string][] = [
  ['manifest_ms', 'manifest', '#1f77b4'],
  ['media_playlist_ms', 'playlist', '#17becf'],
  ['first_segment_ms', 'first segment', '#2ca02c'],
  ['first_buffered_ms', 'buffered', '#ff7f0e'],
  ['first_frame_ms', 'first frame', '#9467bd'],
];

/** Startup as a stacked bar: each stage's own share (the breakdown's figures are cumulative from start). */
function StartupBar({ r }: { r: Report }) {
  const st = r.startup ?? {};
  const total = r.metrics.startup_ms ?? Math.max(0, ...Object.values(st).map((v) => v ?? 0));
  if (!total) return html`<span class="muted">–</span>`;
  let prev = 0;
  const parts = STAGES.flatMap(([k, label, color]) => {
    const v = st[k];
    if (v === undefined || v < prev) return [];
    const part = { label, color, ms: v - prev };
    prev = v;
    return [part];
  });
  return html`<span class="startup" title=${parts.map((p) => `${p.label} +${Math.round(p.ms)} ms`).join('\n')}>
    <span class="bar">${parts.map(
      (p) => html`<span style=${`width:${(100 * p.ms) / total}%;background:${p.color}`}></span>`,
    )}</span>
    ${seconds(total)}
  </span>`;
}

/** "glass = injector X at site Y": where a stamp-measured glass-to-glass figure starts. */
function glassOf(injectorId: number, injectors: Map<number, InjectorView>): string {
  const i = injectors.get(injectorId);
  if (!i) return `glass = injector #${injectorId} (no heartbeat heard)`;
  return `glass = injector ${i.name} (#${i.id})${i.site ? ` at ${i.site}` : ''}${i.status === 'offline' ? ', offline' : ''}`;
}

function Glass({ r, injectors }: { r: Report; injectors: Map<number, InjectorView> }) {
  if (r.g2g_injector_id === undefined) return null;
  const i = injectors.get(r.g2g_injector_id);
  const detail = i
    ? `painted ${i.framesPainted}, passed ${i.framesPassed} frames; added delay ${i.addedDelayMs ?? '–'} ms; clock offset ${i.appliedOffsetMs} ms; up ${Math.round(i.uptimeS)} s; last seen ${time(i.lastSeen)}`
    : '';
  return html`<div class="glass muted" data-glass=${r.g2g_injector_id} title=${detail}>${glassOf(r.g2g_injector_id, injectors)}</div>`;
}

export function TargetView({ id, region }: { id: string; region?: string }) {
  const inj = usePoll(() => api<InjectorView[]>('/v1/injectors'), 30_000, []);
  const injectors = useMemo(() => new Map((inj.data ?? []).map((i) => [i.id, i])), [inj.data]);
  const [target, setTarget] = useState<TargetInfo | undefined>(undefined);
  useEffect(() => {
    api<TargetInfo>(`/v1/targets/${encodeURIComponent(id)}`).then(setTarget, () => setTarget(undefined));
  }, [id]);
  const { data, error } = usePoll(() => loadAll(id, target?.protocol, region), 15_000, [
    id,
    target?.protocol,
    region,
  ]);

  const [reports, setReports] = useState<Report[]>([]);
  useEffect(() => {
    let live = true;
    const since = new Date(Date.now() - 30 * 60_000).toISOString();
    const load = () =>
      api<{ reports: Report[] }>(
        `/v1/results?target=${encodeURIComponent(id)}&since=${since}&limit=1000`,
      ).then(
        (r) =>
          live &&
          setReports(
            r.reports
              .filter((x) => !region || x.region === region)
              .reverse()
              .slice(0, 20),
          ),
        () => undefined,
      );
    void load();
    const offR = feed.on('report', (d) => {
      const r = d as Report;
      if (r.target.id !== id || (region && r.region !== region)) return;
      setReports((prev) => (prev.some((p) => p.id === r.id) ? prev : [r, ...prev].slice(0, 20)));
    });
    const offC = feed.on('reconnected', (d) => reportsReplayed(d) || void load());
    return () => {
      live = false;
      offR();
      offC();
    };
  }, [id, region]);

  const width = useMemo(() => Math.max(360, Math.min(900, Math.floor((innerWidth - 64) / 2) - 24)), []);
  return html`<main class="target-view">
    <h1>${id}${region ? html` <span class="muted">in ${region}</span>` : null}</h1>
    <p class="muted">
      ${target?.name ?? ''} ${target?.url ? html`<code>${target.url}</code>` : null}
      ${target && Object.entries(target.labels).map(([k, v]) => html` <span class="badge s-nodata">${k}=${v}</span>`)}
      ${region ? html`${' · '}<a href=${`/target/${encodeURIComponent(id)}`}>all regions</a>` : null}
      ${' · last hour, 15 s steps, one line per region; red bands: alert episodes, dashed lines: sweeps'}
    </p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${!data && !error && html`<p class="muted">Loading…</p>`}
    ${
      data &&
      html`<div class="charts">
        ${[...data.charts]
          .sort((a, b) => Number(hasData(b.lines)) - Number(hasData(a.lines)))
          .map(
            (
              c,
            ) => html`<${Chart} key=${c.def.metric} title=${c.def.title} times=${data.times} lines=${c.lines}
            fmt=${c.def.fmt} integer=${c.def.integer} yRange=${c.def.yRange} bands=${data.bands} marks=${data.marks} width=${width} />`,
          )}
        <${Chart} title="Errors by category (all regions shown)" times=${data.times} lines=${data.errors}
          fmt=${count} integer=${true} bands=${data.bands} marks=${data.marks} width=${width} />
      </div>`
    }
    <h2>Latest reports</h2>
    ${(() => {
      const ids = [
        ...new Set(reports.flatMap((r) => (r.g2g_injector_id === undefined ? [] : [r.g2g_injector_id]))),
      ];
      return ids.length > 0
        ? html`<p class="glass-sources">Glass-to-glass measured from the clock strip: ${ids.map((g, n) => html`${n ? '; ' : ''}<b>${glassOf(g, injectors)}</b>`)}</p>`
        : null;
    })()}
    ${reports.length === 0 && html`<p class="muted">No report in the last 30 minutes.</p>`}
    ${
      reports.length > 0 &&
      html`<table class="reports">
        <thead><tr><th>time</th><th>region</th><th>agent</th><th>probe</th><th>outcome</th><th>startup</th><th>g2g</th><th>reasons and findings</th></tr></thead>
        <tbody>${reports.map(
          (r) => html`<tr data-report=${r.id}>
            <td>${time(r.endedAt)}</td><td>${r.region}</td><td>${r.agentId}</td><td>${r.probe}</td>
            <td><span class=${`badge s-${r.outcome}`}>${STATE[r.outcome].glyph} ${r.outcome}</span></td>
            <td><${StartupBar} r=${r} /></td>
            <td class="num">${seconds(r.metrics.g2g_p50_ms)}<${Glass} r=${r} injectors=${injectors} /></td>
            <td>${r.reasons.join('; ')}${r.findings
              .slice(0, 5)
              .map(
                (f) =>
                  html`<div class="finding"><b>${f.code}</b> (${f.severity}${f.count > 1 ? ` ×${f.count}` : ''}) <span class="muted">${f.evidence.slice(0, 200)}</span></div>`,
              )}</td>
          </tr>`,
        )}</tbody>
      </table>`
    }
  </main>`;
}
