import type { Sweep } from '../shared/api.js';
import type { ProbeResult, Report } from '../shared/schemas.js';

const fmt = (v: number | undefined, unit = 'ms') => (v === undefined ? 'n/a' : `${Math.round(v)} ${unit}`);

/** Human-readable report: the startup breakdown, segment timing, latency and playback lines. */
export function formatResult(r: ProbeResult | Report): string {
  const m = r.metrics;
  const s = r.startup ?? {};
  const head =
    'agentId' in r
      ? `report ${r.id}  target=${r.target.id} region=${r.region} agent=${r.agentId}`
      : `${r.probe} probe of ${r.target.url}`;
  const lines = [
    head,
    `  outcome        ${r.outcome}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}`,
    `  segments       ${m.segments_total ?? 0} timed; TTFB p50 ${fmt(m.segment_ttfb_p50_ms)} p95 ${fmt(m.segment_ttfb_p95_ms)}; download p50 ${fmt(m.segment_download_p50_ms)} p95 ${fmt(m.segment_download_p95_ms)}`,
  ];
  if (r.probe === 'browser') {
    lines.splice(
      2,
      0,
      `  startup        ${fmt(m.startup_ms)}  = manifest ${fmt(s.manifest_ms)} -> media playlist ${fmt(s.media_playlist_ms)} -> first segment TTFB ${fmt(s.first_segment_ttfb_ms)} / loaded ${fmt(s.first_segment_ms)} -> buffered ${fmt(s.first_buffered_ms)} -> first frame ${fmt(s.first_frame_ms)}`,
    );
    lines.push(
      `  latency        glass-to-glass p50 ${fmt(m.g2g_p50_ms)} p95 ${fmt(m.g2g_p95_ms)} max ${fmt(m.g2g_max_ms)}; PDT p50 ${fmt(m.pdt_latency_p50_ms)}; DASH p50 ${fmt(m.dash_latency_p50_ms)} (method ${r.latency_method ?? 'n/a'}, clock offset ${fmt(m.clock_offset_ms)})`,
      `  playback       stalls ${m.stall_count ?? 0} (${fmt(m.stall_ms)}); dropped frames ${m.dropped_frames ?? 'n/a'}/${m.total_frames ?? 'n/a'}; switches ${m.bitrate_switches ?? 0}`,
    );
    const strip = formatClockStrip(r);
    if (strip) lines.push(`  clock strip    ${strip}`);
    if (r.renditions?.length) lines.push(`  renditions     ${formatRenditions(r.renditions)}`);
  } else {
    lines.push(`  availability   segment availability delay p50 ${fmt(m.segment_availability_delay_p50_ms)}`);
    for (const f of r.findings.slice(0, 20))
      lines.push(`  finding        ${f.severity} ${f.code} x${f.count} ${f.variant}`);
  }
  lines.push(
    `  errors         http ${m.errors_http ?? 0} network ${m.errors_network ?? 0} player ${m.errors_player ?? 0} conformance ${m.errors_conformance ?? 0}`,
  );
  return lines.join('\n');
}

/** Where glass-to-glass came from: the strip read (its painter and place), or that the picture has none. */
export function formatClockStrip(r: ProbeResult | Report): string | undefined {
  if (r.g2g_method === 'none') return 'none in the picture: no glass-to-glass (latency from PDT/DASH only)';
  if (r.g2g_method !== 'stamp') return undefined;
  const who = r.g2g_injector_id !== undefined ? `injector ${r.g2g_injector_id}` : 'no painter id (testbed)';
  return `read, ${who}${r.g2g_strip ? ` at ${r.g2g_strip}` : ''}`;
}

/** Playing time per rendition, e.g. `360p 8.2 s (82%), 240p 1.8 s (18%)`. */
export function formatRenditions(rs: NonNullable<Report['renditions']>): string {
  const total = rs.reduce((sum, x) => sum + x.time_ms, 0);
  return rs
    .map((x) => {
      const pct = total > 0 ? ` (${Math.round((x.time_ms / total) * 100)}%)` : '';
      return `${x.rendition} ${(x.time_ms / 1000).toFixed(1)} s${pct}`;
    })
    .join(', ');
}

export function formatSweep(s: Sweep): string {
  const lines = [`sweep ${s.id}: ${s.state}, ${s.received}/${s.expected} reports`];
  if (s.verdict) {
    lines.push(`  verdict ${s.verdict.toUpperCase()}`);
    for (const r of s.reasons ?? []) lines.push(`    - ${r}`);
  }
  for (const [region, p] of Object.entries(s.perRegion)) {
    lines.push(
      `  region ${region}: ok ${p.ok} degraded ${p.degraded} failed ${p.failed} probe-error ${p.probeError} missing ${p.missing}`,
    );
  }
  for (const r of s.reports) lines.push(formatResult(r));
  return lines.join('\n');
}
