import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../agent/index.js';
import { startAgent } from '../../agent/index.js';
import { StandInProber } from '../../agent/testing/stand-in.js';
import { type NatsChild, startNatsServer } from '../../cli/children.js';
import { type Controller, startController } from '../../controller/index.js';
import { makeReport, waitFor } from '../helpers/fleet.js';
import { freePort, tempDir } from '../helpers/procs.js';
import { adHocTargets, chaosLogger, names, sweepDone, testConfig } from './harness.js';

/**
 * The example server config (deploy/nats/nats-server.conf), used as is: an agent of eu-west does all of its
 * own region's work through it, and the server refuses it anything of another region.
 */
const CONF = fileURLToPath(new URL('../../deploy/nats/nats-server.conf', import.meta.url));
const PASS = {
  LIVEPROBE_CONTROLLER_PASS: 'controller-secret-1',
  LIVEPROBE_AGENT_EU_WEST_1_PASS: 'eu-west-secret-1',
  LIVEPROBE_AGENT_US_EAST_1_PASS: 'us-east-secret-1',
  LIVEPROBE_ADMIN_PASS: 'admin-secret-1',
};

describe('deploy/nats/nats-server.conf: per-role permissions', () => {
  const logger = chaosLogger('permissions');
  const store = tempDir('nats-perm');
  const spool = tempDir('spool-perm');
  let nats: NatsChild;
  let controller: Controller;
  let agent: Agent;

  beforeAll(async () => {
    nats = await startNatsServer({
      port: await freePort(),
      storeDir: store.path,
      configFile: CONF,
      env: { ...PASS, LIVEPROBE_NATS_STORE: store.path },
    });
    controller = await startController({
      config: testConfig({
        'nats.url': nats.url,
        'nats.user': 'controller',
        'nats.pass': PASS.LIVEPROBE_CONTROLLER_PASS,
        'controller.port': await freePort(),
        'agent.heartbeatS': 1,
      }),
      logger,
    });
    agent = await startAgent({
      config: testConfig({
        'nats.url': nats.url,
        'nats.user': 'agent-eu-west-1',
        'nats.pass': PASS.LIVEPROBE_AGENT_EU_WEST_1_PASS,
        'agent.id': 'agent-eu-west-1',
        'agent.region': 'eu-west',
        'agent.heartbeatS': 1,
        'agent.spoolDir': spool.path,
      }),
      logger,
      probers: { browser: new StandInProber('browser'), stream: new StandInProber('stream', { speed: 4 }) },
    });
  });

  afterAll(async () => {
    await agent?.stop({ graceMs: 0 });
    await controller?.stop();
    await nats?.stop();
    store.remove();
    spool.remove();
  });

  it('lets an agent pull its region’s jobs, publish its reports and heartbeats, ask the time, obey control', async () => {
    const res = await fetch(`${controller.url}/v1/sweeps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ targets: adHocTargets(2), regions: ['eu-west'], probe: 'stream', durationS: 2 }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const sweep = await sweepDone(controller, id, 60_000);
    expect(sweep.reports.map((r) => r.agentId)).toEqual(['agent-eu-west-1', 'agent-eu-west-1']);
    // liveprobe.time answered: the offset travels in the report.
    expect(sweep.reports.every((r) => typeof r.metrics.clock_offset_ms === 'number')).toBe(true);
    // Heartbeats arrive; the control subject is reachable through the agent's own subscription.
    const agents = (await (await fetch(`${controller.url}/v1/agents`)).json()) as { agentId: string }[];
    expect(agents.map((a) => a.agentId)).toEqual(['agent-eu-west-1']);
    const drain = await fetch(`${controller.url}/v1/agents/agent-eu-west-1/drain`, { method: 'POST' });
    expect(await drain.json()).toMatchObject({ ok: true, draining: true });
    const resume = await fetch(`${controller.url}/v1/agents/agent-eu-west-1/resume`, { method: 'POST' });
    expect(await resume.json()).toMatchObject({ ok: true, draining: false });
  });

  it('refuses an agent anything of another region (publish, pull, subscribe) and any stream admin', async () => {
    const nc = await connect({
      servers: nats.url,
      user: 'agent-eu-west-1',
      pass: PASS.LIVEPROBE_AGENT_EU_WEST_1_PASS,
    });
    const violations: string[] = [];
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error') violations.push(String((s.error as Error).message));
      }
    })();
    try {
      const js = jetstream(nc);
      const other = makeReport({ jobId: 'intruder', region: 'us-east', targetId: 'ch1' });

      // A report into another region's subjects (JetStream publish = request): refused.
      await expect(
        js.publish(names.results('us-east', 'agent-us-east-1', 'ch1'), JSON.stringify(other), {
          msgID: other.id,
          timeout: 2000,
        }),
      ).rejects.toThrow(/permission/i);
      // A report of its own region but under another agent's id: refused too.
      const twin = makeReport({ jobId: 'twin', region: 'eu-west', targetId: 'ch1' });
      await expect(
        js.publish(names.results('eu-west', 'agent-eu-west-2', 'ch1'), JSON.stringify(twin), {
          msgID: twin.id,
          timeout: 2000,
        }),
      ).rejects.toThrow(/permission/i);
      // A heartbeat as an agent of another region (core publish): refused by the server.
      nc.publish(names.heartbeat('us-east', 'agent-us-east-1'), '{}');
      await nc.flush();
      // Pulling another region's work queue: its consumer API is refused.
      await expect(js.consumers.get(names.jobsStream, names.jobsConsumer('us-east'))).rejects.toThrow();
      // Listening to another agent's control subject, or to every report: refused.
      const sub = nc.subscribe(names.control('agent-us-east-1'));
      const snoop = nc.subscribe(names.resultsAll);
      // Every reply of every agent and of the controller (pulls, acks, control answers): refused.
      const inboxes = nc.subscribe('_INBOX.>');
      await nc.flush();
      await expect(sub.closed).resolves.toBeInstanceOf(Error);
      await expect(snoop.closed).resolves.toBeInstanceOf(Error);
      await expect(inboxes.closed).resolves.toBeInstanceOf(Error);
      // No stream administration (the controller owns the topology).
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await expect(jsm.streams.delete(names.resultsStream)).rejects.toThrow();

      await waitFor('the server to report the violations', () => violations.length >= 6, 5000);
      const text = violations.join('\n');
      expect(text).toMatch(/publish.*liveprobe\.results\.us-east\.agent-us-east-1\.ch1/i);
      expect(text).toMatch(/publish.*liveprobe\.results\.eu-west\.agent-eu-west-2\.ch1/i);
      expect(text).toMatch(/publish.*liveprobe\.agents\.us-east\.agent-us-east-1/i);
      expect(text).toMatch(/subscription.*liveprobe\.control\.agent-us-east-1/i);
      expect(text).toMatch(/subscription.*liveprobe\.results\.>/i);
      expect(text).toMatch(/subscription.*_INBOX\.>/i);

      // Nothing of us-east was stored.
      const admin = await connect({ servers: nats.url, user: 'admin', pass: PASS.LIVEPROBE_ADMIN_PASS });
      try {
        const info = await (await jetstreamManager(admin)).streams.info(names.resultsStream, {
          subjects_filter: 'liveprobe.results.us-east.>',
        });
        expect(info.state.subjects ?? {}).toEqual({});
      } finally {
        await admin.close();
      }
    } finally {
      await nc.close();
    }
  });

  it('drops and counts a report whose body disagrees with its subject (region, agent)', async () => {
    const nc = await connect({
      servers: nats.url,
      user: 'agent-eu-west-1',
      pass: PASS.LIVEPROBE_AGENT_EU_WEST_1_PASS,
      inboxPrefix: names.agentInbox('agent-eu-west-1'),
    });
    const invalid = async () => {
      const text = await (await fetch(`${controller.url}/metrics`)).text();
      return Number(/^liveprobe_ingest_invalid_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
    };
    try {
      const before = await invalid();
      const js = jetstream(nc);
      const subject = names.results('eu-west', 'agent-eu-west-1', 'ch1');
      // allowed by the server (its own subject), but the body speaks for another region / agent
      const asOtherRegion = makeReport({
        jobId: 'forged-1',
        region: 'us-east',
        targetId: 'ch1',
        agentId: 'agent-eu-west-1',
      });
      const asOtherAgent = makeReport({
        jobId: 'forged-2',
        region: 'eu-west',
        targetId: 'ch1',
        agentId: 'agent-eu-west-2',
      });
      for (const r of [asOtherRegion, asOtherAgent])
        await js.publish(subject, JSON.stringify(r), { msgID: r.id });
      await waitFor('ingest to reject both', async () => (await invalid()) >= before + 2, 15_000);
      const res = await fetch(`${controller.url}/v1/results?target=ch1`);
      const { reports } = (await res.json()) as { reports: { jobId: string }[] };
      expect(reports.map((r) => r.jobId)).not.toContain('forged-1');
      expect(reports.map((r) => r.jobId)).not.toContain('forged-2');
    } finally {
      await nc.close();
    }
  });

  it('refuses a wrong password', async () => {
    await expect(
      connect({ servers: nats.url, user: 'agent-eu-west-1', pass: 'wrong', maxReconnectAttempts: 0 }),
    ).rejects.toThrow(/authorization/i);
  });
});

describe('every NATS connection takes the same credentials: token, nkey, TLS', () => {
  const logger = chaosLogger('credentials');
  let nats: NatsChild | undefined;
  const dirs: { remove(): void }[] = [];

  afterAll(async () => {
    await nats?.stop();
    for (const d of dirs) d.remove();
  });

  /** Connects exactly as agent and controller do (shared/transport.ts) and makes one request/reply. */
  async function roundTrip(cfg: Record<string, unknown>): Promise<void> {
    const { connectNats } = await import('../../shared/transport.js');
    const nc: NatsConnection = await connectNats(testConfig(cfg).nats, 'credentials-test', logger);
    try {
      const sub = nc.subscribe('ping', { callback: (_e, m) => m.respond('pong') });
      const reply = await nc.request('ping', '', { timeout: 2000 });
      expect(reply.string()).toBe('pong');
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  }

  it('token (nats.token)', async () => {
    const store = tempDir('nats-token');
    dirs.push(store);
    nats = await startNatsServer({
      port: await freePort(),
      storeDir: store.path,
      extraArgs: ['--auth', 's3cr3t-token-value'],
    });
    await roundTrip({ 'nats.url': nats.url, 'nats.token': 's3cr3t-token-value' });
    await expect(roundTrip({ 'nats.url': nats.url })).rejects.toThrow();
    await nats.stop();
    nats = undefined;
  });

  it('nkey seed file (nats.nkeyFile)', async () => {
    const { createUser } = await import('@nats-io/nkeys');
    const { writeFileSync } = await import('node:fs');
    const dir = tempDir('nats-nkey');
    dirs.push(dir);
    const user = createUser();
    const pub = user.getPublicKey();
    writeFileSync(`${dir.path}/user.nk`, new TextDecoder().decode(user.getSeed()));
    writeFileSync(
      `${dir.path}/server.conf`,
      `jetstream { store_dir: "${dir.path}/store" }\nauthorization { users: [ { nkey: ${pub} } ] }\n`,
    );
    nats = await startNatsServer({
      port: await freePort(),
      storeDir: `${dir.path}/store`,
      configFile: `${dir.path}/server.conf`,
    });
    await roundTrip({ 'nats.url': nats.url, 'nats.nkeyFile': `${dir.path}/user.nk` });
    await expect(roundTrip({ 'nats.url': nats.url })).rejects.toThrow();
    await nats.stop();
    nats = undefined;
  });

  it('TLS with a private CA (nats.tlsCaFile; tls:// URL)', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = tempDir('nats-tls');
    dirs.push(dir);
    const d = dir.path;
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'ignore' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=liveprobe-test-ca',
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
    );
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'key.pem',
      '-out',
      'csr.pem',
    );
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${d}/san.ext`, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'csr.pem',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'san.ext',
      '-out',
      'cert.pem',
    );
    nats = await startNatsServer({
      port: await freePort(),
      storeDir: `${d}/store`,
      extraArgs: ['--tls', '--tlscert', `${d}/cert.pem`, '--tlskey', `${d}/key.pem`],
    });
    const url = nats.url.replace('nats://', 'tls://');
    await roundTrip({ 'nats.url': url, 'nats.tlsCaFile': `${d}/ca.pem` });
    // Without the CA the server's certificate is not trusted.
    await expect(roundTrip({ 'nats.url': url })).rejects.toThrow();
    await nats.stop();
    nats = undefined;
  });
});
