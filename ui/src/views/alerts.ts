import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { type Alert, api, type Matcher, type Silence } from '../api.js';
import { ago, time } from '../format.js';
import { feed } from '../live.js';
import { can } from '../session.js';
import { usePoll } from '../store.js';

interface AlertsData {
  active: Alert[];
  history: Alert[];
  silences: Silence[];
}

const load = async (): Promise<AlertsData> => {
  const [active, history, silences] = await Promise.all([
    api<Alert[]>('/v1/alerts'),
    api<Alert[]>('/v1/alerts/history?limit=50'),
    api<Silence[]>('/v1/silences'),
  ]);
  feed.touch();
  return { active, history, silences };
};

const fmtValue = (v: number | null) =>
  v === null ? '–' : Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 1000) / 1000);

/** The labels a silence should match by default: the rule and where it fires (not the volatile ones). */
function defaultMatchers(a: Alert): Matcher[] {
  const keep = ['alertname', 'target', 'region', 'agent'];
  return keep.filter((k) => a.labels[k]).map((k) => ({ name: k, value: a.labels[k] as string }));
}

function SilenceForm({ alert, onDone }: { alert: Alert; onDone: () => void }) {
  const [matchers, setMatchers] = useState<Matcher[]>(defaultMatchers(alert));
  const [duration, setDuration] = useState('1h');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    try {
      await api('/v1/silences', { method: 'POST', body: { matchers, duration, comment } });
      onDone();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return html`<form class="panel silence-form" onSubmit=${submit} aria-label=${`silence ${alert.rule}`}>
    <b>Silence ${alert.labels.alertname ?? alert.rule}</b>
    <div class="matchers">
      ${matchers.map(
        (m, i) => html`<span class="matcher">
          <input aria-label="label" value=${m.name} size="10" onInput=${(e: Event) =>
            setMatchers(
              matchers.map((x, j) => (j === i ? { ...x, name: (e.target as HTMLInputElement).value } : x)),
            )} />
          =
          <input aria-label="value" value=${m.value} size="16" onInput=${(e: Event) =>
            setMatchers(
              matchers.map((x, j) => (j === i ? { ...x, value: (e.target as HTMLInputElement).value } : x)),
            )} />
          <button type="button" class="secondary" aria-label="remove matcher" onClick=${() => setMatchers(matchers.filter((_, j) => j !== i))}>×</button>
        </span>`,
      )}
      <button type="button" class="secondary" onClick=${() => setMatchers([...matchers, { name: '', value: '' }])}>+ matcher</button>
    </div>
    <div class="inline">
      <label>For <select name="duration" value=${duration} onChange=${(e: Event) => setDuration((e.target as HTMLSelectElement).value)}>
        ${['30m', '1h', '2h', '4h', '12h', '24h'].map((d) => html`<option value=${d}>${d}</option>`)}
      </select></label>
      <label class="grow">Comment (required) <input name="comment" required value=${comment} placeholder="why, and who follows up"
        onInput=${(e: Event) => setComment((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Silence</button>
      <button type="button" class="secondary" onClick=${onDone}>Cancel</button>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function Evidence({ a }: { a: Alert }) {
  const q = a.evidence.quorum;
  const breaching = a.evidence.regions.filter((r) => r.breaching);
  return html`<div class="evidence">
    ${q && html`<span>${q.breaching} of ${q.regions} regions breaching (quorum ${q.need})</span>`}
    ${a.evidence.regions.map(
      (r) => html` <span class=${`badge ${r.breaching ? 's-failed' : r.inhibited ? 's-probe-error' : 's-ok'}`}
        title=${r.inhibited ? `inhibited: ${r.inhibited}` : `${r.reports} reports`}>
        ${r.breaching ? '✗' : r.inhibited ? '⚠' : '✓'} ${r.region} ${fmtValue(r.value)}</span>`,
    )}
    ${a.evidence.agents?.map((g) => html` <span class="badge s-failed">✗ ${g.agent} (${g.region}) last seen ${time(g.last_seen)}</span>`)}
    ${
      breaching.some((r) => r.sample_reports.length) &&
      html`<div class="samples muted">sample reports: ${breaching.flatMap((r) =>
        r.sample_reports
          .slice(0, 2)
          .map(
            (id) =>
              html`<a href=${`/target/${encodeURIComponent(a.labels.target ?? '')}?region=${encodeURIComponent(r.region)}`} title=${id}>${r.region}/${id.slice(-12)}</a> `,
          ),
      )}</div>`
    }
  </div>`;
}

function AlertRow({ a, onSilence }: { a: Alert; onSilence?: () => void }) {
  const sev = a.labels.severity ?? 'warning';
  return html`<tr class=${`alert-${a.state}`} data-alert=${a.id}>
    <td><span class=${`badge ${a.state === 'firing' ? 's-failed' : 's-degraded'}`}>${a.state === 'firing' ? '✗ firing' : '▲ pending'}</span>
      <div class="muted">${sev}</div></td>
    <td><b>${a.labels.alertname ?? a.rule}</b><div>${a.annotations.summary ?? ''}</div>
      ${a.annotations.runbook_url && html`<a href=${a.annotations.runbook_url} target="_blank" rel="noreferrer">runbook</a>`}</td>
    <td>${a.labels.target ? html`<a href=${`/target/${encodeURIComponent(a.labels.target)}`}>${a.labels.target}</a>` : (a.labels.region ?? a.labels.agent ?? '')}</td>
    <td><${Evidence} a=${a} /></td>
    <td class="num">${fmtValue(a.value)} <span class="muted">vs ${fmtValue(a.threshold)}</span></td>
    <td title=${a.active_at}>${ago(Date.now() - Date.parse(a.active_at))} ago</td>
    <td>${onSilence && html`<button class="secondary" onClick=${onSilence}>Silence…</button>`}</td>
  </tr>`;
}

export function AlertsView() {
  const { data, error, reload } = usePoll(load, 10_000, []);
  const [silencing, setSilencing] = useState<string | undefined>(undefined);
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const soon = () => {
      clearTimeout(t);
      t = setTimeout(reload, 300);
    };
    const off = [feed.on('alert', soon), feed.on('reconnected', soon)];
    return () => {
      for (const f of off) f();
    };
  }, []);
  const operator = can('operator');
  const expire = async (id: string) => {
    await api(`/v1/silences/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => undefined);
    reload();
  };
  if (!data)
    return html`<main><h1>Alerts</h1>${error ? html`<p class="error">${error}</p>` : html`<p class="muted">Loading…</p>`}</main>`;
  const live = data.active.filter((a) => a.silenced_by.length === 0);
  const firing = live.filter((a) => a.state === 'firing');
  const pending = live.filter((a) => a.state === 'pending');
  const silenced = data.active.filter((a) => a.silenced_by.length > 0);
  const head = html`<thead><tr><th>state</th><th>what</th><th>where</th><th>evidence</th><th class="num">value</th><th>since</th><th></th></tr></thead>`;
  const rows = (list: Alert[]) =>
    list.map(
      (
        a,
      ) => html`<${AlertRow} key=${a.id} a=${a} onSilence=${operator ? () => setSilencing(a.id) : undefined} />
        ${
          silencing === a.id &&
          html`<tr><td colspan="7"><${SilenceForm} alert=${a} onDone=${() => {
            setSilencing(undefined);
            reload();
          }} /></td></tr>`
        }`,
    );
  const activeSilences = data.silences.filter((s) => s.status !== 'expired');
  return html`<main class="alerts-view">
    <h1>Alerts</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <h2>Firing (${firing.length})</h2>
    ${firing.length ? html`<table id="firing">${head}<tbody>${rows(firing)}</tbody></table>` : html`<p class="muted">Nothing firing.</p>`}
    <h2>Pending (${pending.length})</h2>
    ${pending.length ? html`<table id="pending">${head}<tbody>${rows(pending)}</tbody></table>` : html`<p class="muted">Nothing pending.</p>`}
    <h2>Silenced (${silenced.length})</h2>
    ${
      silenced.length
        ? html`<table id="silenced">${head}<tbody>${silenced.map((a) => html`<${AlertRow} key=${a.id} a=${a} />`)}</tbody></table>`
        : html`<p class="muted">No active alert is silenced.</p>`
    }
    <h2>Silences (${activeSilences.length} active or pending)</h2>
    ${
      activeSilences.length
        ? html`<table id="silences"><thead><tr><th>matchers</th><th>status</th><th>until</th><th>by</th><th>comment</th><th></th></tr></thead><tbody>
          ${activeSilences.map(
            (s) => html`<tr data-silence=${s.id}>
              <td>${s.matchers.map((m) => html`<code>${m.name}${m.is_equal === false ? '!' : ''}${m.is_regex ? '=~' : '='}${m.value}</code> `)}</td>
              <td>${s.status}</td><td title=${s.ends_at}>${time(s.ends_at)}</td><td>${s.created_by}</td><td>${s.comment}</td>
              <td>${operator && html`<button class="secondary" onClick=${() => expire(s.id)}>Expire</button>`}</td>
            </tr>`,
          )}</tbody></table>`
        : html`<p class="muted">No active silence.</p>`
    }
    <h2>History (last 7 days)</h2>
    ${
      data.history.length
        ? html`<table id="history"><thead><tr><th>alert</th><th>where</th><th>fired</th><th>resolved</th><th class="num">value</th></tr></thead><tbody>
          ${data.history.map(
            (
              a,
            ) => html`<tr><td>${a.labels.alertname ?? a.rule}</td><td>${a.labels.target ?? a.labels.region ?? a.labels.agent ?? ''}</td>
              <td>${a.fired_at ? `${new Date(a.fired_at).toLocaleString()}` : '–'}</td>
              <td>${a.resolved_at ? time(a.resolved_at) : html`<b>still firing</b>`}</td><td class="num">${fmtValue(a.value)}</td></tr>`,
          )}</tbody></table>`
        : html`<p class="muted">No alert fired in the last 7 days.</p>`
    }
  </main>`;
}
