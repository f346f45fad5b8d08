import { createHash } from 'node:crypto';
import type { Labels, Rule } from './schema.js';

/**
 * Alertmanager-style identity: the hash of the sorted label set. The same rule on the same target (or
 * agent, region) always has the same fingerprint, across restarts and replicas; PagerDuty's dedup_key and
 * the notification log are keyed by it.
 */
export function fingerprint(labels: Labels): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

/** Labels of an alert: the subject's own labels, then the rule's, then the identifying ones (which win). */
export function alertLabels(rule: Rule, identity: Labels, subjectLabels: Labels = {}): Labels {
  return { ...subjectLabels, ...rule.labels, alertname: rule.id, severity: rule.severity, ...identity };
}

/** Annotations with {{target}}, {{region}}, {{value}}, {{threshold}} and {{labels.x}} filled in. */
export function renderAnnotations(
  annotations: Record<string, string | undefined>,
  vars: { labels: Labels; value: number | null; threshold: number | null },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) {
    if (v === undefined) continue;
    out[k] = v.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (whole, name: string) => {
      if (name === 'value') return vars.value === null ? 'n/a' : formatNumber(vars.value);
      if (name === 'threshold') return vars.threshold === null ? 'n/a' : formatNumber(vars.threshold);
      const key = name.startsWith('labels.') ? name.slice(7) : name;
      return vars.labels[key] ?? whole;
    });
  }
  return out;
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
