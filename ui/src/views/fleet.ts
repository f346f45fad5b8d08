import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { type AgentView, api, type RegionCapacity } from '../api.js';
import { ago } from '../format.js';
import { feed } from '../live.js';
import { can } from '../session.js';
import { usePoll } from '../store.js';

const load = async () => {
  const [regions, agents] = await Promise.all([
    api<RegionCapacity[]>('/v1/agents/regions'),
    api<AgentView[]>('/v1/agents'),
  ]);
  feed.touch();
  return { regions, agents };
};

const offset = (ms: number | undefined) =>
  ms === undefined ? '–' : `${ms >= 0 ? '+' : ''}${Math.round(ms)} ms`;

function offsetRange(agents: AgentView[]): string {
  const vs = agents.map((a) => a.heartbeat.clockOffsetMs).filter((v): v is number => v !== undefined);
  if (!vs.length) return '–';
  const lo = Math.min(...vs);
  const hi = Math.max(...vs);
  return lo === hi ? offset(lo) : `${offset(lo)} … ${offset(hi)}`;
}

export function FleetView() {
  const { data, error, reload } = usePoll(load, 5000, []);
  const [msg, setMsg] = useState<string | undefined>(undefined);
  useEffect(() => {
    const off = [feed.on('agent', reload), feed.on('reconnected', reload)];
    return () => {
      for (const f of off) f();
    };
  }, []);
  const operator = can('operator');
  const act = async (id: string, action: 'drain' | 'resume') => {
    try {
      const r = await api<{ ok: boolean; message?: string; draining: boolean }>(
        `/v1/agents/${encodeURIComponent(id)}/${action}`,
        { method: 'POST' },
      );
      setMsg(`${id}: ${r.message ?? (r.draining ? 'draining' : 'taking jobs')}`);
    } catch (e) {
      setMsg(`${id}: ${(e as Error).message}`);
    }
    reload();
  };
  if (!data)
    return html`<main><h1>Fleet</h1><p class=${error ? 'error' : 'muted'}>${error ?? 'Loading…'}</p></main>`;
  const now = Date.now();
  return html`<main class="fleet-view">
    <h1>Fleet</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <h2>Regions</h2>
    ${
      data.regions.length === 0
        ? html`<p class="muted">No agent has reported yet.</p>`
        : html`<table id="regions"><thead><tr><th>region</th><th class="num">online</th><th class="num">draining</th><th class="num">offline</th>
          <th class="num">browser used/free</th><th class="num">stream used/free</th><th>clock offset</th><th class="num">spooled</th><th class="num">dropped</th></tr></thead><tbody>
          ${data.regions.map((r) => {
            const agents = data.agents.filter((a) => a.region === r.region && a.status === 'online');
            return html`<tr data-region=${r.region}><td><b>${r.region}</b></td>
              <td class="num">${r.agents.online}</td><td class="num">${r.agents.draining}</td>
              <td class=${`num ${r.agents.offline ? 's-failed' : ''}`}>${r.agents.offline}</td>
              <td class="num">${r.running.browser} / ${r.free.browser}</td><td class="num">${r.running.stream} / ${r.free.stream}</td>
              <td>${offsetRange(agents)}</td>
              <td class=${`num ${r.spooled ? 's-degraded' : ''}`}>${r.spooled}</td><td class=${`num ${r.dropped ? 's-failed' : ''}`}>${r.dropped}</td></tr>`;
          })}</tbody></table>`
    }
    <h2>Agents</h2>
    ${msg && html`<p role="status">${msg}</p>`}
    <table id="agents"><thead><tr><th>agent</th><th>region</th><th>status</th><th>version</th><th class="num">browser</th><th class="num">stream</th>
      <th class="num">clock offset</th><th class="num">spool</th><th class="num">dropped</th><th>last seen</th><th></th></tr></thead><tbody>
      ${data.agents.map((a) => {
        const hb = a.heartbeat;
        const st = a.status === 'offline' ? 'offline' : hb.draining ? 'draining' : 'online';
        return html`<tr data-agent=${a.agentId}><td>${a.agentId}</td><td>${a.region}</td>
          <td><span class=${`badge ${st === 'online' ? 's-ok' : st === 'draining' ? 's-degraded' : 's-failed'}`}>${st === 'online' ? '✓' : st === 'draining' ? '▲' : '✗'} ${st}</span></td>
          <td>${hb.version}</td>
          <td class="num">${hb.running.browser ?? 0}/${hb.capacity.browser ?? 0}</td><td class="num">${hb.running.stream ?? 0}/${hb.capacity.stream ?? 0}</td>
          <td class="num">${offset(hb.clockOffsetMs)}</td><td class="num">${hb.publisher?.spoolDepth ?? 0}</td><td class="num">${hb.publisher?.dropped ?? 0}</td>
          <td>${ago(now - Date.parse(a.lastSeen))} ago</td>
          <td>${
            operator &&
            a.status === 'online' &&
            (hb.draining
              ? html`<button class="secondary" onClick=${() => act(a.agentId, 'resume')}>Resume</button>`
              : html`<button class="secondary" onClick=${() => act(a.agentId, 'drain')}>Drain</button>`)
          }</td></tr>`;
      })}
    </tbody></table>
  </main>`;
}
