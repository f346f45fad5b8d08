/**
 * Stage 1, evaluate (fleet half): agent-offline and region-offline rules, from the fleet registry. An agent
 * that announced it was draining before it went quiet was stopped on purpose and is not an outage.
 */
import { alertLabels, fingerprint, renderAnnotations } from './fingerprint.js';
import type { Rule } from './schema.js';
import type { Candidate } from './types.js';

export interface AgentFact {
  agentId: string;
  region: string;
  status: 'online' | 'offline';
  lastSeen: number;
  /** Its last heartbeat said it was shutting down. */
  draining: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function evaluateFleet(rules: Rule[], agents: AgentFact[]): Candidate[] {
  const out: Candidate[] = [];
  const lost = agents.filter((a) => a.status === 'offline' && !a.draining);
  for (const rule of rules) {
    if (rule.fleet === 'agent-offline') {
      for (const a of lost) {
        const labels = alertLabels(rule, { agent: a.agentId, region: a.region });
        out.push(
          candidate(rule, labels, [{ agent: a.agentId, region: a.region, last_seen: iso(a.lastSeen) }]),
        );
      }
    } else if (rule.fleet === 'region-offline') {
      const byRegion = new Map<string, AgentFact[]>();
      for (const a of agents) byRegion.set(a.region, [...(byRegion.get(a.region) ?? []), a]);
      for (const [region, list] of byRegion) {
        // Offline = no agent answering, and at least one that should be (not all stopped on purpose).
        if (list.some((a) => a.status === 'online') || !list.some((a) => !a.draining)) continue;
        const labels = alertLabels(rule, { region });
        out.push(
          candidate(
            rule,
            labels,
            list.map((a) => ({ agent: a.agentId, region, last_seen: iso(a.lastSeen) })),
          ),
        );
      }
    }
  }
  return out;
}

function candidate(
  rule: Rule,
  labels: Candidate['labels'],
  agents: { agent: string; region: string; last_seen: string }[],
): Candidate {
  return {
    rule,
    fingerprint: fingerprint(labels),
    labels,
    annotations: renderAnnotations(rule.annotations, { labels, value: agents.length, threshold: null }),
    active: true,
    held: false,
    value: agents.length,
    threshold: null,
    evidence: { regions: [], agents },
  };
}
