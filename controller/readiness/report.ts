import type { CellFigure, Sweep, SweepVerdict, VerdictCell, VerdictLevel } from '../../shared/api.js';
import type { Report } from '../../shared/schemas.js';
import { worst } from './verdict.js';

/**
 * The readiness report a launch manager attaches to the go/no-go meeting: GET /v1/sweeps/:id/report as
 * markdown, self-contained HTML (inline CSS, no script, no external asset) or JSON. Everything here is
 * derived from the stored sweep; nothing is measured again.
 */

export interface ReportModel {
  sweep: Sweep;
  verdict: SweepVerdict;
  /** Label name the pivot table spreads across columns (e.g. cdn). */
  pivot?: string;
  generatedAt: string;
}

const LABEL: Record<VerdictLevel, string> = { go: 'GO', warn: 'WARN', 'no-go': 'NO-GO' };

function fmt(f: CellFigure, v: number | undefined | null): string {
  if (v === undefined || v === null) return 'n/a';
  if (f.unit === 'ms') return `${(v / 1000).toFixed(2)} s`;
  if (f.unit === 'ratio') return `${(v * 100).toFixed(1)} %`;
  return String(v);
}

/** Rows = regions, columns = the pivot label's values; a cell = worst verdict of the targets with that value. */
export function pivotTable(
  cells: VerdictCell[],
  label: string,
): { columns: string[]; rows: [string, (VerdictLevel | undefined)[]][] } {
  const columns = [...new Set(cells.map((c) => c.labels[label] ?? '(none)'))].sort();
  const regions = [...new Set(cells.map((c) => c.region))].sort();
  const rows = regions.map((region): [string, (VerdictLevel | undefined)[]] => [
    region,
    columns.map((col) =>
      cells
        .filter((c) => c.region === region && (c.labels[label] ?? '(none)') === col)
        .reduce<VerdictLevel | undefined>((acc, c) => (acc ? worst(acc, c.verdict) : c.verdict), undefined),
    ),
  ]);
  return { columns, rows };
}

interface AgentLine {
  agentId: string;
  region: string;
  clockOffsetMs?: number;
  reports: number;
}

function agentsOf(reports: Report[]): AgentLine[] {
  const m = new Map<string, AgentLine>();
  for (const r of reports) {
    const a = m.get(r.agentId) ?? { agentId: r.agentId, region: r.region, reports: 0 };
    a.reports++;
    if (r.metrics.clock_offset_ms !== undefined) a.clockOffsetMs = r.metrics.clock_offset_ms;
    m.set(r.agentId, a);
  }
  return [...m.values()].sort((a, b) => a.agentId.localeCompare(b.agentId));
}

function findingsOf(reports: Report[]): { target: string; region: string; line: string }[] {
  const out: { target: string; region: string; line: string }[] = [];
  for (const r of reports) {
    for (const f of r.findings)
      out.push({
        target: r.target.id,
        region: r.region,
        line: `${f.severity} ${f.code} x${f.count}: ${f.evidence}`,
      });
    for (const e of r.errors.filter((e) => e.fatal))
      out.push({
        target: r.target.id,
        region: r.region,
        line: `fatal ${e.category} ${e.type}: ${e.details}`,
      });
  }
  return out.slice(0, 200);
}

const title = (s: Sweep) => s.name ?? `sweep ${s.id}`;

export function toJson(m: ReportModel) {
  return {
    id: m.sweep.id,
    name: m.sweep.name,
    event: m.sweep.event,
    author: m.sweep.author,
    state: m.sweep.state,
    createdAt: m.sweep.createdAt,
    finishedAt: m.sweep.finishedAt,
    probe: m.sweep.probe,
    durationS: m.sweep.durationS,
    regions: m.sweep.regions,
    verdict: m.verdict.verdict,
    reasons: m.verdict.reasons,
    cells: m.verdict.cells,
    pivot: m.pivot ? { label: m.pivot, ...pivotTable(m.verdict.cells, m.pivot) } : undefined,
    agents: agentsOf(m.sweep.reports),
    findings: findingsOf(m.sweep.reports),
    generatedAt: m.generatedAt,
  };
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(m: ReportModel): string {
  const s = m.sweep;
  const L: string[] = [];
  L.push(`# Readiness: ${mdCell(title(s))} — ${LABEL[m.verdict.verdict]}`, '');
  L.push(
    `- **Verdict:** ${LABEL[m.verdict.verdict]}`,
    `- **Event:** ${s.event ?? '—'}`,
    `- **Run by:** ${s.author}, ${s.createdAt}${s.finishedAt ? ` → ${s.finishedAt}` : ''} (${s.state})`,
    `- **Probe:** ${s.probe}, ${s.durationS} s per target; ${s.received}/${s.expected} reports`,
    `- **Sweep id:** \`${s.id}\``,
    '',
  );
  if (m.verdict.reasons.length) {
    L.push('## Why', '');
    for (const r of m.verdict.reasons) L.push(`- ${mdCell(r)}`);
    L.push('');
  }
  L.push(
    '## Verdict per target and region',
    '',
    '| Target | Region | Verdict | Reasons |',
    '|---|---|---|---|',
  );
  for (const c of m.verdict.cells)
    L.push(
      `| ${c.target} | ${c.region} | ${LABEL[c.verdict]}${c.inconclusive ? ' (inconclusive)' : ''} | ${mdCell(c.reasons.join('; ') || '—')} |`,
    );
  L.push('');
  if (m.pivot) {
    const p = pivotTable(m.verdict.cells, m.pivot);
    L.push(
      `## By ${m.pivot}`,
      '',
      `| Region | ${p.columns.join(' | ')} |`,
      `|---|${p.columns.map(() => '---|').join('')}`,
    );
    for (const [region, vs] of p.rows)
      L.push(`| ${region} | ${vs.map((v) => (v ? LABEL[v] : '—')).join(' | ')} |`);
    L.push('');
  }
  L.push('## Figures', '');
  for (const c of m.verdict.cells) {
    L.push(
      `### ${c.target} @ ${c.region}`,
      '',
      '| Metric | Value | Expected ≤ | Baseline |',
      '|---|---|---|---|',
    );
    for (const f of c.figures)
      L.push(`| ${f.metric} | ${fmt(f, f.value)} | ${fmt(f, f.expected)} | ${fmt(f, f.baseline)} |`);
    L.push('', c.baselineSweepId ? `Baseline: sweep \`${c.baselineSweepId}\`.` : 'No baseline yet.', '');
  }
  const findings = findingsOf(s.reports);
  L.push('## Findings', '');
  if (findings.length === 0) L.push('None.');
  for (const f of findings) L.push(`- ${f.target} @ ${f.region}: ${mdCell(f.line)}`);
  L.push('', '## Agents', '', '| Agent | Region | Reports | Clock offset |', '|---|---|---|---|');
  for (const a of agentsOf(s.reports))
    L.push(
      `| ${a.agentId} | ${a.region} | ${a.reports} | ${a.clockOffsetMs === undefined ? 'n/a' : `${Math.round(a.clockOffsetMs)} ms`} |`,
    );
  L.push('', `_Generated ${m.generatedAt} by liveprobe._`, '');
  return L.join('\n');
}

const esc = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
const badge = (v: VerdictLevel, extra = '') => `<span class="v ${v}">${LABEL[v]}${extra}</span>`;

export function toHtml(m: ReportModel): string {
  const s = m.sweep;
  const rows = m.verdict.cells
    .map(
      (c) =>
        `<tr><td>${esc(c.target)}</td><td>${esc(c.region)}</td><td>${badge(c.verdict, c.inconclusive ? ' ?' : '')}</td><td>${c.reasons.length ? `<ul>${c.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : '—'}</td></tr>`,
    )
    .join('');
  let pivot = '';
  if (m.pivot) {
    const p = pivotTable(m.verdict.cells, m.pivot);
    pivot = `<h2>By ${esc(m.pivot)}</h2><table><thead><tr><th>Region</th>${p.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${p.rows
      .map(
        ([r, vs]) => `<tr><td>${esc(r)}</td>${vs.map((v) => `<td>${v ? badge(v) : '—'}</td>`).join('')}</tr>`,
      )
      .join('')}</tbody></table>`;
  }
  const figures = m.verdict.cells
    .map(
      (c) =>
        `<h3>${esc(c.target)} @ ${esc(c.region)} ${badge(c.verdict)}</h3><table><thead><tr><th>Metric</th><th>Value</th><th>Expected ≤</th><th>Baseline</th></tr></thead><tbody>${c.figures
          .map((f) => {
            const over = f.value !== null && f.expected !== undefined && f.value > f.expected;
            return `<tr${over ? ' class="over"' : ''}><td>${esc(f.metric)}</td><td>${fmt(f, f.value)}</td><td>${fmt(f, f.expected)}</td><td>${fmt(f, f.baseline)}</td></tr>`;
          })
          .join(
            '',
          )}</tbody></table><p class="muted">${c.baselineSweepId ? `Baseline: sweep <code>${esc(c.baselineSweepId)}</code>` : 'No baseline yet.'}</p>`,
    )
    .join('');
  const findings = findingsOf(s.reports);
  const agents = agentsOf(s.reports);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Readiness: ${esc(title(s))} — ${LABEL[m.verdict.verdict]}</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dee4;padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{border:1px solid #d8dee4;padding:.35rem .6rem;text-align:left;vertical-align:top}th{background:#f3f5f7}
td ul{margin:0;padding-left:1.1rem}.muted{color:#57606a;font-size:.9rem}code{font-size:.85em}
.v{display:inline-block;padding:.1rem .55rem;border-radius:.3rem;font-weight:700;color:#fff;font-size:.85rem;letter-spacing:.03em}
.v.go{background:#1a7f37}.v.warn{background:#9a6700}.v.no-go{background:#cf222e}
.hero{display:flex;align-items:center;gap:1rem;margin:.6rem 0 1rem}.hero .v{font-size:1.4rem;padding:.3rem 1rem}
tr.over td{background:#ffebe9}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}dt{color:#57606a}
@media print{body{margin:0;max-width:none}}
</style></head><body>
<h1>Readiness: ${esc(title(s))}</h1>
<div class="hero">${badge(m.verdict.verdict)}<div>${m.verdict.reasons.length ? `<ul>${m.verdict.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>` : 'Every target in every region met its expectations.'}</div></div>
<dl><dt>Event</dt><dd>${esc(s.event ?? '—')}</dd><dt>Run by</dt><dd>${esc(s.author)}</dd><dt>When</dt><dd>${esc(s.createdAt)}${s.finishedAt ? ` → ${esc(s.finishedAt)}` : ''} (${esc(s.state)})</dd>
<dt>Probe</dt><dd>${esc(s.probe)}, ${s.durationS} s per target; ${s.received}/${s.expected} reports</dd><dt>Sweep</dt><dd><code>${esc(s.id)}</code></dd></dl>
<h2>Verdict per target and region</h2>
<table><thead><tr><th>Target</th><th>Region</th><th>Verdict</th><th>Reasons</th></tr></thead><tbody>${rows}</tbody></table>
${pivot}
<h2>Figures against expectation and baseline</h2>${figures}
<h2>Findings</h2>${findings.length ? `<ul>${findings.map((f) => `<li>${esc(f.target)} @ ${esc(f.region)}: ${esc(f.line)}</li>`).join('')}</ul>` : '<p>None.</p>'}
<h2>Agents</h2><table><thead><tr><th>Agent</th><th>Region</th><th>Reports</th><th>Clock offset</th></tr></thead><tbody>${agents
    .map(
      (a) =>
        `<tr><td>${esc(a.agentId)}</td><td>${esc(a.region)}</td><td>${a.reports}</td><td>${a.clockOffsetMs === undefined ? 'n/a' : `${Math.round(a.clockOffsetMs)} ms`}</td></tr>`,
    )
    .join('')}</tbody></table>
<p class="muted">Generated ${esc(m.generatedAt)} by liveprobe.</p>
</body></html>
`;
}
