import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type Outcome, type RegionCapacity, type Report, type Sweep, type TargetInfo } from '../api.js';
import { STATE, seconds, time } from '../format.js';
import { feed } from '../live.js';
import { navigate } from '../router.js';
import { can } from '../session.js';
import { usePoll } from '../store.js';

function matchesSelector(t: TargetInfo, sel: string): boolean {
  return sel
    .split(/[\s,]+/)
    .filter(Boolean)
    .every((tok) => {
      const eq = tok.indexOf('=');
      if (eq > 0) return t.labels[tok.slice(0, eq)] === tok.slice(eq + 1);
      return t.id.includes(tok);
    });
}

function StartForm() {
  const { data } = usePoll(
    () =>
      Promise.all([api<TargetInfo[]>('/v1/targets'), api<RegionCapacity[]>('/v1/agents/regions')]).then(
        ([targets, regions]) => ({ targets, regions }),
      ),
    10_000,
    [],
  );
  const [selector, setSelector] = useState('');
  const [regions, setRegions] = useState<string[] | undefined>(undefined);
  const [probe, setProbe] = useState<'browser' | 'stream'>('browser');
  const [duration, setDuration] = useState(30);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  if (!data) return html`<p class="muted">Loading targets and regions…</p>`;
  const matched = data.targets.filter((t) => matchesSelector(t, selector));
  const chosen = regions ?? data.regions.filter((r) => r.agents.online > 0).map((r) => r.region);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = await api<Sweep>('/v1/sweeps', {
        method: 'POST',
        body: { targets: matched.map((t) => t.id), regions: chosen, probe, durationS: duration },
      });
      navigate(`/sweeps/${encodeURIComponent(s.id)}`);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="panel start-sweep" onSubmit=${submit} aria-label="start a sweep">
    <div class="inline">
      <label>Targets (ids or label=value; empty = all) <input name="selector" value=${selector} placeholder="e.g. cdn=a"
        onInput=${(e: Event) => setSelector((e.target as HTMLInputElement).value)} /></label>
      <span class="count"><b>${matched.length}</b> of ${data.targets.length} targets match</span>
      <label>Probe <select name="probe" value=${probe} onChange=${(e: Event) => setProbe((e.target as HTMLSelectElement).value as 'browser' | 'stream')}>
        <option value="browser">browser</option><option value="stream">stream</option></select></label>
      <label>Duration (s) <input name="duration" type="number" min="5" max="3600" value=${duration}
        onInput=${(e: Event) => setDuration(Number((e.target as HTMLInputElement).value))} /></label>
    </div>
    <fieldset class="regions"><legend>Regions (free ${probe} slots)</legend>
      ${data.regions.length === 0 && html`<span class="muted">No agent has reported yet.</span>`}
      ${data.regions.map(
        (
          r,
        ) => html`<label class="check"><input type="checkbox" name="region" value=${r.region} checked=${chosen.includes(r.region)}
          onChange=${(e: Event) => {
            const on = (e.target as HTMLInputElement).checked;
            setRegions(on ? [...chosen, r.region] : chosen.filter((x) => x !== r.region));
          }} /> ${r.region} <span class="muted">(${r.free[probe]} free)</span></label>`,
      )}
    </fieldset>
    <button type="submit" disabled=${busy || matched.length === 0 || chosen.length === 0}>Start sweep</button>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function Progress({ p }: { p: Sweep['perRegion'][string] }) {
  const w = (n: number) => `width:${p.expected ? (100 * n) / p.expected : 0}%`;
  return html`<span class="bar" role="progressbar" aria-valuemin="0" aria-valuemax=${p.expected} aria-valuenow=${p.received}>
    <span class="s-ok" style=${`${w(p.ok)};background:var(--ok)`}></span>
    <span style=${`${w(p.degraded)};background:var(--deg)`}></span>
    <span style=${`${w(p.failed)};background:var(--fail)`}></span>
    <span style=${`${w(p.probeError)};background:var(--ours)`}></span>
    <span style=${`${w(p.missing)};background:var(--none)`}></span>
  </span>`;
}

function verdict(reports: Report[], target: string, region: string): Report | undefined {
  // the worst report of the pair decides its verdict
  const order: Outcome[] = ['failed', 'probe-error', 'degraded', 'ok'];
  return reports
    .filter((r) => r.target.id === target && r.region === region)
    .sort((a, b) => order.indexOf(a.outcome) - order.indexOf(b.outcome))[0];
}

function SweepDetail({ id }: { id: string }) {
  const {
    data: s,
    error,
    reload,
  } = usePoll(() => api<Sweep>(`/v1/sweeps/${encodeURIComponent(id)}`), 5000, [id]);
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const off = feed.on('sweep', (d) => {
      if ((d as { id: string }).id !== id) return;
      clearTimeout(t);
      t = setTimeout(reload, 200);
    });
    return off;
  }, [id]);
  if (!s) return html`<p class=${error ? 'error' : 'muted'}>${error ?? 'Loading…'}</p>`;
  const reports = s.reports ?? [];
  return html`<section class="sweep-detail" data-state=${s.state}>
    <h2>Sweep <code>${s.id}</code> — <span class=${`badge ${s.state === 'done' ? 's-ok' : 's-degraded'}`}>${s.state}</span></h2>
    <p class="muted">${s.probe} probe, ${s.durationS} s, ${s.targets.length} target(s) x ${s.regions.length} region(s);
      started ${time(s.createdAt)}${s.finishedAt ? `, finished ${time(s.finishedAt)}` : `, deadline ${time(s.deadline)}`}${'; '}${s.received}/${s.expected} reports.</p>
    <p class="links">${
      s.state === 'done'
        ? html`Readiness report: <a href=${`/v1/sweeps/${encodeURIComponent(s.id)}/report?format=html`} target="_blank" rel="noopener">HTML</a>${' · '}<a href=${`/v1/sweeps/${encodeURIComponent(s.id)}/report?format=md`} target="_blank" rel="noopener">Markdown</a>${' · '}`
        : null
    }<a href=${`/v1/sweeps/${encodeURIComponent(s.id)}`} target="_blank" rel="noopener">JSON</a></p>
    <table class="progress"><thead><tr><th>region</th><th>received / expected</th><th></th><th class="num">ok</th><th class="num">degraded</th><th class="num">failed</th><th class="num">probe-error</th><th class="num">missing</th></tr></thead>
      <tbody>${Object.entries(s.perRegion).map(
        ([
          region,
          p,
        ]) => html`<tr data-region=${region}><td>${region}</td><td class="num">${p.received} / ${p.expected}</td><td><${Progress} p=${p} /></td>
          <td class="num">${p.ok}</td><td class="num">${p.degraded}</td><td class="num">${p.failed}</td><td class="num">${p.probeError}</td><td class="num">${p.missing}</td></tr>`,
      )}</tbody></table>
    ${
      reports.length > 0 &&
      html`<h2>Result</h2><table class="verdicts"><thead><tr><th>target</th>${s.regions.map((r) => html`<th>${r}</th>`)}</tr></thead><tbody>
        ${s.targets.map(
          (t) =>
            html`<tr><td><a href=${`/target/${encodeURIComponent(t.id)}`}>${t.id}</a></td>${s.regions.map(
              (region) => {
                const r = verdict(reports, t.id, region);
                if (!r)
                  return html`<td class="s-nodata">${s.state === 'done' ? '· missing' : '… waiting'}</td>`;
                return html`<td class=${`s-${r.outcome}`} title=${r.reasons.join('\n')}>${STATE[r.outcome].glyph} ${r.outcome}${
                  r.metrics.startup_ms !== undefined
                    ? html` <span class="muted">startup ${seconds(r.metrics.startup_ms)}</span>`
                    : null
                }${r.reasons.length ? html`<div class="muted small">${r.reasons.slice(0, 2).join('; ')}</div>` : null}</td>`;
              },
            )}</tr>`,
        )}</tbody></table>`
    }
  </section>`;
}

export function SweepsView({ id }: { id?: string }) {
  const { data, reload } = usePoll(() => api<Sweep[]>('/v1/sweeps'), 10_000, []);
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    return feed.on('sweep', () => {
      clearTimeout(t);
      t = setTimeout(reload, 200);
    });
  }, []);
  const list = [...(data ?? [])].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, 30);
  return html`<main class="sweeps-view">
    <h1>Sweeps</h1>
    ${can('operator') && !id && html`<${StartForm} />`}
    ${id && html`<${SweepDetail} id=${id} />`}
    <h2>Recent sweeps</h2>
    ${
      list.length === 0
        ? html`<p class="muted">No sweep yet.</p>`
        : html`<table class="sweep-list"><thead><tr><th>id</th><th>state</th><th>started</th><th>probe</th><th>targets</th><th>regions</th><th class="num">received</th></tr></thead><tbody>
          ${list.map(
            (
              s,
            ) => html`<tr><td><a href=${`/sweeps/${encodeURIComponent(s.id)}`}>${s.id}</a></td><td>${s.state}</td><td>${time(s.createdAt)}</td>
              <td>${s.probe}</td><td>${s.targets.map((t) => t.id).join(', ')}</td><td>${s.regions.join(', ')}</td><td class="num">${s.received}/${s.expected}</td></tr>`,
          )}</tbody></table>`
    }
  </main>`;
}
