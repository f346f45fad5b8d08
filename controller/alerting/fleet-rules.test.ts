import { describe, expect, it } from 'vitest';
import { evaluateFleet } from './fleet-rules.js';
import { rule } from './testing.js';

describe('fleet rules', () => {
  const agentOffline = rule({
    id: 'agent-offline',
    finding: undefined,
    agg: undefined,
    fleet: 'agent-offline',
  });
  const regionOffline = rule({
    id: 'region-offline',
    finding: undefined,
    agg: undefined,
    fleet: 'region-offline',
  });
  const a = (agentId: string, region: string, status: 'online' | 'offline', draining = false) => ({
    agentId,
    region,
    status,
    lastSeen: 1000,
    draining,
  });

  it('one alert per agent that went quiet without draining', () => {
    const out = evaluateFleet(
      [agentOffline],
      [a('a1', 'eu', 'offline'), a('a2', 'eu', 'online'), a('a3', 'us', 'offline', true)],
    );
    expect(out.map((c) => c.labels)).toEqual([
      { alertname: 'agent-offline', severity: 'warning', agent: 'a1', region: 'eu' },
    ]);
    expect(out[0]?.evidence.agents?.[0]?.last_seen).toBe(new Date(1000).toISOString());
  });

  it('a region is offline when none of its agents answers and not all were stopped on purpose', () => {
    const out = evaluateFleet(
      [regionOffline],
      [
        a('a1', 'eu', 'offline'),
        a('a2', 'eu', 'offline'),
        a('a3', 'us', 'offline'),
        a('a4', 'us', 'online'),
        a('a5', 'ap', 'offline', true),
      ],
    );
    expect(out.map((c) => c.labels.region)).toEqual(['eu']);
    expect(out[0]?.value).toBe(2);
  });
});
