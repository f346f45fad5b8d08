/**
 * Alerting on real parts (issue #18 item 4): real agent processes killed by PID raise agent-offline and then
 * region-offline, delivered as Slack messages to a local HTTP receiver; the offline region's reports are
 * inhibited (a stream fault it alone confirms does not page, while the same fault in two healthy regions
 * does); a weekly maintenance window silences a page that a window on another day does not. One nats-server,
 * one controller, three agents for the file.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamPublisher } from '../../agent/publisher.js';
import { type Controller, startController } from '../../controller/index.js';
import { estimateClockOffset } from '../../shared/clock-offset.js';
import { loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import type { Report } from '../../shared/schemas.js';
import { names } from '../../shared/subjects.js';
import { kill9, spawnStandInAgent } from '../helpers/fleet.js';
import { freePort, startNats, stopProcess, tempDir } from '../helpers/procs.js';
import { failed, startReceiver, waitFor } from './helpers.js';

const TOKEN = 'admin-token-0123456789abc';
const logger = createLogger('fleet-proof', process.env.LIVEPROBE_LOG_LEVEL ?? 'silent');

function rules(receiverUrl: string): string {
  return `
evaluation_interval: 1s
inhibit: { probe_error_ratio: 0.5, agent_offline: true }
route:
  receivers: [slack]
  group_by: [alertname, target, agent, region]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - { name: slack, kind: slack, webhook_url: "${receiverUrl}/slack", channel: "#live" }
rules:
  - id: agent-offline
    fleet: agent-offline
    for: 0s
    severity: warning
    annotations: { summary: "agent {{agent}} in {{region}} is offline" }
  - id: region-offline
    fleet: region-offline
    for: 0s
    severity: critical
    annotations: { summary: "region {{region}} has no agent online" }
  - id: unplayable
    metric: success_ratio
    agg: ratio
    window: 1m
    op: '<'
    threshold: 0.5
    quorum: { regions: 2 }
    for: 0s
    severity: critical
    annotations: { summary: "{{target}} unplayable in 2+ regions" }
`;
}

describe('alerting with real agents, Slack and maintenance windows', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dir = tempDir('fleet-proof');
  const agents = new Map<string, ChildProcess>();

  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${controller.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  const alertsOf = async (target: string) =>
    (await (await api('GET', `/v1/alerts?target=${target}`)).json()) as {
      state: string;
      silenced_by: string[];
    }[];
  /** Slack message texts received so far. */
  const slack = () =>
    receiver.receipts.filter((r) => r.path === '/slack').map((r) => (r.body as { text: string }).text);
  const publish = async (reports: Report[]) => {
    const ids = new Set(reports.map((r) => r.id));
    const seen = new Promise<void>((resolve) => {
      const on = (r: Report) => {
        ids.delete(r.id);
        if (ids.size === 0) {
          controller.events.off('report', on);
          resolve();
        }
      };
      controller.events.on('report', on);
    });
    for (const r of reports) await publisher.publish(r);
    await seen;
  };
  const evaluations = async (n: number) => {
    const from = controller.alerting.stats.runs;
    await waitFor('evaluations', () => controller.alerting.stats.runs >= from + n);
    await controller.alerting.idle();
  };

  beforeAll(async () => {
    nats = await startNats();
    receiver = await startReceiver('unused-secret-0123456789');
    const rulesFile = join(dir.path, 'rules.yaml');
    writeFileSync(rulesFile, rules(receiver.url));
    const config = loadConfig({
      env: { LIVEPROBE_TOKENS: `ops:admin:${TOKEN}` },
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'controller.rulesFile': rulesFile,
        'agent.heartbeatS': 1,
      },
    });
    controller = await startController({ config, logger });
    nc = await connect({ servers: nats.url });
    publisher = new JetStreamPublisher({ js: jetstream(nc), names: names(), logger });
    for (const [id, region] of [
      ['eu-1', 'eu'],
      ['eu-2', 'eu'],
      ['us-1', 'us'],
    ] as const) {
      agents.set(
        id,
        spawnStandInAgent({
          NATS_URL: nats.url,
          LIVEPROBE_AGENT_ID: id,
          LIVEPROBE_REGION: region,
          LIVEPROBE_HEARTBEAT_S: '1',
          LIVEPROBE_SPOOL_DIR: join(dir.path, id),
          LIVEPROBE_LOG_LEVEL: 'error',
        }),
      );
    }
    await waitFor(
      'three agents online',
      async () =>
        ((await (await api('GET', '/v1/agents')).json()) as { status: string }[]).filter(
          (a) => a.status === 'online',
        ).length === 3,
    );
    await waitFor('alerting lease', () => controller.alerting.isLeader);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...agents.values()].map((p) => stopProcess(p, 'SIGKILL')));
    await nc?.close();
    await controller?.stop();
    await receiver?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('an agent killed by PID pages agent-offline on Slack; its region pages region-offline when the last one dies', async () => {
    await kill9(agents.get('eu-1')!);
    const first = await waitFor('agent-offline on Slack', () =>
      slack().find((t) => t.includes('agent eu-1 in eu is offline')),
    );
    expect(first).toMatch(/FIRING/);
    // eu-2 still answers: the region is not offline.
    await evaluations(2);
    expect(slack().some((t) => t.includes('region eu has no agent online'))).toBe(false);

    await kill9(agents.get('eu-2')!);
    const region = await waitFor('region-offline on Slack', () =>
      slack().find((t) => t.includes('region eu has no agent online')),
    );
    expect(region).toMatch(/:red_circle: \*FIRING\*/);
    expect(slack().some((t) => t.includes('agent eu-2 in eu is offline'))).toBe(true);
    // The healthy region never pages.
    expect(slack().some((t) => /us-1|region us/.test(t))).toBe(false);
    // A Slack incoming-webhook body: text plus one mrkdwn section, and the channel asked for.
    const body = receiver.receipts.find((r) => r.path === '/slack')?.body as Record<string, unknown>;
    expect(body).toMatchObject({ channel: '#live', blocks: [{ type: 'section', text: { type: 'mrkdwn' } }] });
  }, 90_000);

  it('inhibition: a fault confirmed only by the region whose agents died does not page; the same fault in two live regions does', async () => {
    const from = (r: Report, agentId: string): Report => ({ ...r, agentId });
    await publish([
      from(failed('inh', 'eu'), 'eu-1'),
      from(failed('inh', 'us'), 'us-1'),
      from(failed('ctl', 'us'), 'us-1'),
      from(failed('ctl', 'ap'), 'ap-1'),
    ]);
    await waitFor('the control target to page', () => slack().find((t) => t.includes('ctl unplayable')));
    await evaluations(3);
    expect(slack().some((t) => t.includes('inh unplayable'))).toBe(false);
    expect(await alertsOf('inh')).toEqual([]);
  }, 60_000);

  it('a weekly maintenance window covering now silences a real page; one on another day does not', async () => {
    const now = new Date(Date.now() - 2 * 60_000); // the window opened two minutes ago (UTC)
    const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const hhmm = `${String(now.getUTCHours()).padStart(2, '0')}:${String(now.getUTCMinutes()).padStart(2, '0')}`;
    const window = (day: string) => ({
      matchers: [{ name: 'target', value: day === days[now.getUTCDay()] ? 'mw-in' : 'mw-out' }],
      duration: '24h',
      comment: 'weekly encoder maintenance',
      recurrence: { days: [day], start: hhmm, duration: '1h', tz: 'UTC' },
    });
    const inRes = await api('POST', '/v1/silences', window(days[now.getUTCDay()]!));
    expect(inRes.status).toBe(201);
    const inside = (await inRes.json()) as { id: string; status: string };
    expect(inside.status).toBe('active');
    const outRes = await api('POST', '/v1/silences', window(days[(now.getUTCDay() + 3) % 7]!));
    expect(outRes.status).toBe(201);
    expect(((await outRes.json()) as { status: string }).status).toBe('pending');

    await publish([
      failed('mw-in', 'us'),
      failed('mw-in', 'ap'),
      failed('mw-out', 'us'),
      failed('mw-out', 'ap'),
    ]);
    await waitFor('the page outside its window', () => slack().find((t) => t.includes('mw-out unplayable')));
    const [alert] = await waitFor('the silenced alert', async () => {
      const a = await alertsOf('mw-in');
      return a.length > 0 && a;
    });
    expect(alert).toMatchObject({ state: 'firing', silenced_by: [inside.id] });
    await evaluations(3);
    expect(slack().some((t) => t.includes('mw-in'))).toBe(false);
  }, 60_000);

  it('clock offset against known values: 0 for agents on this host, +5 s against a time service 5 s behind', async () => {
    // The live agent measured itself against the controller, which shares this host's clock: true offset 0,
    // read within its best sample's round trip (loopback NATS; generous for a loaded machine).
    const us = await waitFor('us-1 to report its clock offset', async () =>
      (
        (await (await api('GET', '/v1/agents')).json()) as {
          agentId: string;
          heartbeat: { clockOffsetMs?: number };
        }[]
      ).find((a) => a.agentId === 'us-1' && a.heartbeat.clockOffsetMs !== undefined),
    );
    expect(Math.abs(us.heartbeat.clockOffsetMs as number)).toBeLessThanOrEqual(250);
    // A time service whose clock is exactly 5000 ms behind ours: the estimate must say +5000 (ours is ahead).
    const skewed = names('skewed');
    const sub = nc.subscribe(skewed.time, {
      callback: (_err, m) => m.respond(new TextEncoder().encode(JSON.stringify({ now: Date.now() - 5000 }))),
    });
    try {
      const offset = await estimateClockOffset(nc, skewed);
      expect(offset).toBeTypeOf('number');
      expect(Math.abs((offset as number) - 5000)).toBeLessThanOrEqual(250);
    } finally {
      sub.unsubscribe();
    }
  });
});
