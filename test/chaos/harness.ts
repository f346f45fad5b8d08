import { type ChildProcess, spawn } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Agent, startAgent } from '../../agent/index.js';
import { StandInProber } from '../../agent/testing/stand-in.js';
import { type Controller, startController } from '../../controller/index.js';
import type { Prober } from '../../probes/types.js';
import type { Sweep } from '../../shared/api.js';
import { type Config, loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { ProbeKind, Report, TargetRef } from '../../shared/schemas.js';
import { names as subjectNames } from '../../shared/subjects.js';
import { decodeJson } from '../../shared/transport.js';
import { distEntry, waitFor } from '../helpers/fleet.js';
import { freePort } from '../helpers/procs.js';

/** Shared by the chaos tests (test/chaos/*.test.ts) and `bench/chaos.ts`. */
export const REGION = 'chaos';
export const names = subjectNames('liveprobe');

export function chaosLogger(name: string): Logger {
  return createLogger(name, process.env.CHAOS_LOG_LEVEL ?? 'silent');
}

/** Config as the processes would load it, with no env leaking in from the developer's shell. */
export function testConfig(overrides: Record<string, unknown>): Config {
  // The chaos tests' origins run on loopback: open it as `demo` does.
  return loadConfig({ env: {}, overrides: { 'egress.allow': LOOPBACK_RULES, ...overrides } });
}

/** Until a JetStream cluster has elected its meta leader, API calls answer 503: wait that out. */
export async function waitForJetStream(servers: string[], timeoutMs = 60_000): Promise<void> {
  const nc = await connect({ servers, maxReconnectAttempts: -1 });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    await waitFor(
      'JetStream to be available',
      async () => {
        try {
          await jsm.getAccountInfo();
          return true;
        } catch {
          return false;
        }
      },
      timeoutMs,
      250,
    );
  } finally {
    await nc.close();
  }
}

export async function startTestController(opts: {
  servers: string[];
  logger: Logger;
  replicas?: number;
  jobAckWaitS?: number;
}): Promise<Controller> {
  const config = testConfig({
    'nats.url': opts.servers.join(','),
    'nats.replicas': opts.replicas ?? 1,
    'nats.jobAckWaitS': opts.jobAckWaitS ?? 30,
    'controller.port': await freePort(),
    'agent.heartbeatS': 1,
  });
  return startController({ config, logger: opts.logger });
}

export interface StandInAgentOptions {
  servers: string[];
  id: string;
  spoolDir: string;
  logger: Logger;
  capacity?: number;
  probers?: Partial<Record<ProbeKind, Prober>>;
  drainGraceS?: number;
}

/** An agent in this process with stand-in probers (stream and browser). */
export async function startStandInAgent(opts: StandInAgentOptions): Promise<Agent> {
  const config = testConfig({
    'nats.url': opts.servers.join(','),
    'agent.id': opts.id,
    'agent.region': REGION,
    'agent.heartbeatS': 1,
    'agent.spoolDir': opts.spoolDir,
    'agent.drainGraceS': opts.drainGraceS ?? 5,
    'agent.capacity.stream': opts.capacity ?? 2,
    'agent.capacity.browser': opts.capacity ?? 2,
  });
  return startAgent({
    config,
    logger: opts.logger,
    probers: {
      browser: opts.probers?.browser ?? new StandInProber('browser'),
      stream: opts.probers?.stream ?? new StandInProber('stream'),
    },
  });
}

/** Env for a separate agent process (`spawnStandInAgent`) or `liveprobe agent`. */
export function agentEnv(opts: {
  servers: string[];
  id: string;
  spoolDir: string;
  capacity?: number;
  drainGraceS?: number;
}): NodeJS.ProcessEnv {
  return {
    NATS_URL: opts.servers.join(','),
    LIVEPROBE_AGENT_ID: opts.id,
    LIVEPROBE_REGION: REGION,
    LIVEPROBE_HEARTBEAT_S: '1',
    LIVEPROBE_SPOOL_DIR: opts.spoolDir,
    LIVEPROBE_CAPACITY_STREAM: String(opts.capacity ?? 1),
    LIVEPROBE_CAPACITY_BROWSER: String(opts.capacity ?? 1),
    LIVEPROBE_DRAIN_GRACE_S: String(opts.drainGraceS ?? 5),
    LIVEPROBE_LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'error',
  };
}

/** `liveprobe controller` as a separate process (so it can be killed -9). */
export function spawnController(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [distEntry('cli/main.js'), 'controller'], {
    env: { ...process.env, LIVEPROBE_LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Ad hoc targets: stand-in probers never fetch them. */
export function adHocTargets(n: number, prefix = 't'): TargetRef[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    url: `http://127.0.0.1:9/${prefix}${i}.m3u8`,
    protocol: 'hls' as const,
  }));
}

export async function postSweep(
  controllerUrl: string,
  body: { targets: TargetRef[]; probe: ProbeKind; durationS: number; regions?: string[] },
): Promise<{ id: string; jobs: number }> {
  const res = await fetch(`${controllerUrl}/v1/sweeps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ regions: [REGION], ...body }),
  });
  if (res.status !== 202) throw new Error(`POST /v1/sweeps -> ${res.status}: ${await res.text()}`);
  return (await res.json()) as { id: string; jobs: number };
}

/** Every report the controller ingests (its `report` events), counted per report id. */
export function recordIngest(controller: Controller): Map<string, number> {
  const seen = new Map<string, number>();
  controller.events.on('report', (r: Report) => seen.set(r.id, (seen.get(r.id) ?? 0) + 1));
  return seen;
}

export async function sweepDone(controller: Controller, id: string, timeoutMs = 120_000): Promise<Sweep> {
  return waitFor(
    `sweep ${id} to be done`,
    () => {
      const s = controller.sweeps.get(id);
      return s?.state === 'done' ? s : undefined;
    },
    timeoutMs,
    200,
  );
}

/** Every message of the results stream, counted per report id (what JetStream stored, duplicates included). */
export async function storedReports(servers: string[]): Promise<Map<string, number>> {
  const nc = await connect({ servers });
  try {
    return await readStored(nc);
  } finally {
    await nc.close();
  }
}

async function readStored(nc: NatsConnection): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc);
  // Retried: right after a cluster node dies the stream may still be electing a leader.
  const retry = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= 20) throw new Error(`${what}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const { first_seq, last_seq, messages } = (
    await retry('stream info', () => jsm.streams.info(names.resultsStream))
  ).state;
  const out = new Map<string, number>();
  if (messages === 0) return out;
  // Message by message (direct get from the stream leader): no consumer to create on a wounded cluster.
  const seqs = Array.from({ length: last_seq - first_seq + 1 }, (_, i) => first_seq + i);
  for (let i = 0; i < seqs.length; i += 50) {
    const chunk = await Promise.all(
      seqs
        .slice(i, i + 50)
        .map((seq) => retry(`message ${seq}`, () => jsm.streams.getMessage(names.resultsStream, { seq }))),
    );
    for (const m of chunk) {
      if (!m) continue;
      const r = decodeJson(m.data) as { id: string };
      out.set(r.id, (out.get(r.id) ?? 0) + 1);
    }
  }
  return out;
}

export interface ScenarioResult {
  scenario: string;
  /** Reports the scenario's jobs (or publisher) were expected to deliver. */
  expected: number;
  /** Distinct report ids stored in the results stream. */
  published: number;
  /** Distinct report ids the controller ingested. */
  ingested: number;
  /** Extra copies: stored more than once, or ingested more than once. */
  duplicated: number;
  /** Expected reports that never reached the controller. */
  lost: number;
  notes: string[];
}

/** published / ingested / duplicated / lost from the expected ids, the stream's and the controller's counts. */
export function tally(
  scenario: string,
  expectedIds: string[],
  stored: Map<string, number>,
  ingested: Map<string, number>,
  notes: string[] = [],
): ScenarioResult {
  const extra = (m: Map<string, number>) => [...m.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
  return {
    scenario,
    expected: expectedIds.length,
    published: expectedIds.filter((id) => stored.has(id)).length,
    ingested: expectedIds.filter((id) => ingested.has(id)).length,
    duplicated: extra(stored) + extra(ingested),
    lost: expectedIds.filter((id) => !ingested.has(id)).length,
    notes,
  };
}

/** Report ids of a sweep's jobs: job n of sweep S is `S.n`, its report `S.n:0`. */
export const sweepReportIds = (sweepId: string, jobs: number): string[] =>
  Array.from({ length: jobs }, (_, i) => `${sweepId}.${i}:0`);
