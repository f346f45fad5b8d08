import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { ConfigSchema } from '../../shared/config.js';

/**
 * The deployment files held to what the product needs, without a cluster or a container engine:
 * the rendered Kubernetes objects (kubectl kustomize), the compose file, the Dockerfile's contract, and the
 * NATS configs (nats-server -t).
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const DEPLOY = join(ROOT, 'deploy');
const DRAIN_GRACE_S = ConfigSchema.parse({}).agent.drainGraceS;
const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

type Obj = {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};
type Container = {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  containers: Container[];
  securityContext?: Record<string, unknown>;
  terminationGracePeriodSeconds?: number;
  volumes?: Array<{ name: string; emptyDir?: { medium?: string } }>;
};
const podOf = (o: Obj) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;

describe.skipIf(!has('kubectl', ['version', '--client']))(
  'deploy/k8s: kubectl kustomize overlays/example',
  () => {
    const rendered = execFileSync('kubectl', ['kustomize', join(DEPLOY, 'k8s', 'overlays', 'example')], {
      encoding: 'utf8',
    });
    const objs = parseAllDocuments(rendered)
      .map((d) => d.toJSON() as Obj | null)
      .filter((o): o is Obj => o !== null);
    const workloads = objs.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind));
    const agents = workloads.filter((o) => o.metadata.name.startsWith('liveprobe-agent-'));
    const controller = workloads.find((o) => o.metadata.name === 'liveprobe-controller') as Obj;

    it('runs every container non-root, without privilege escalation or capabilities, on a read-only root', () => {
      expect(workloads.length).toBeGreaterThanOrEqual(3);
      for (const w of workloads) {
        const pod = podOf(w);
        expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
        expect(pod.securityContext?.runAsUser, w.metadata.name).toBe(1000);
        for (const c of pod.containers) {
          expect(c.securityContext, `${w.metadata.name}/${c.name}`).toMatchObject({
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
          expect(c.resources?.requests?.cpu, `${w.metadata.name}/${c.name} cpu request`).toBeTruthy();
          expect(c.resources?.limits?.memory, `${w.metadata.name}/${c.name} memory limit`).toBeTruthy();
        }
      }
    });

    it('has a controller Deployment of 2 replicas with /healthz and /readyz probes, guarded by a PDB', () => {
      expect(controller.kind).toBe('Deployment');
      expect((controller.spec as { replicas: number }).replicas).toBe(2);
      const c = podOf(controller).containers[0] as Container;
      expect(c.args).toEqual(['controller']);
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(envOf(c, 'LIVEPROBE_REPLICAS')).toBe('3');
      expect(envOf(c, 'LIVEPROBE_LEAF_REGIONS')).toBe('eu-west,us-east');
      const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget') as Obj;
      const selector = (pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector
        .matchLabels;
      const podLabels = (controller.spec as { template: { metadata: { labels: Record<string, string> } } })
        .template.metadata.labels;
      for (const [k, v] of Object.entries(selector)) expect(podLabels[k]).toBe(v);
    });

    it('runs one agent Deployment per region on its leaf, with memory-backed /dev/shm and a grace beyond the drain', () => {
      expect(agents.map((a) => a.metadata.name).sort()).toEqual([
        'liveprobe-agent-eu-west',
        'liveprobe-agent-us-east',
      ]);
      for (const a of agents) {
        const region = a.metadata.name.replace('liveprobe-agent-', '');
        const pod = podOf(a);
        const c = pod.containers[0] as Container;
        expect(c.args).toEqual(['agent']);
        expect(envOf(c, 'LIVEPROBE_REGION')).toBe(region);
        expect(envOf(c, 'NATS_URL')).toBe(`nats://nats-leaf-${region}:4222`);
        expect(envOf(c, 'LIVEPROBE_JS_DOMAIN')).toBe('hub');
        expect(c.env?.find((e) => e.name === 'NATS_PASS')?.valueFrom?.secretKeyRef?.key).toBe(
          `agent-${region}-password`,
        );
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(DRAIN_GRACE_S);
        const shm = pod.volumes?.find((v) => v.emptyDir?.medium === 'Memory');
        expect(c.volumeMounts?.find((m) => m.name === shm?.name)?.mountPath).toBe('/dev/shm');
        // The writable paths of the image (Dockerfile): spool, Chromium profiles, $HOME, /tmp.
        const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
        for (const p of [
          '/var/lib/liveprobe/spool',
          '/var/lib/liveprobe/tmp',
          '/var/lib/liveprobe/home',
          '/tmp',
        ])
          expect(mounts).toContain(p);
        expect(c.readinessProbe?.httpGet?.path).toBe('/healthz');
        expect(envOf(c, 'LIVEPROBE_AGENT_HTTP_PORT')).toBe('9464');
      }
    });

    it('takes every secret from a rendered Secret that has the key, and isolates pods with NetworkPolicies', () => {
      const secrets = objs.filter((o) => o.kind === 'Secret');
      for (const w of workloads) {
        for (const c of podOf(w).containers) {
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            if (!ref) continue;
            const s = secrets.find((x) => x.metadata.name === ref.name);
            expect(s, `${w.metadata.name}: secret ${ref.name}`).toBeDefined();
            expect(Object.keys(s?.data ?? {}), `${ref.name} has ${ref.key}`).toContain(ref.key);
          }
        }
      }
      const policies = objs.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name);
      expect(policies.sort()).toEqual([
        'liveprobe-agent-eu-west',
        'liveprobe-agent-us-east',
        'liveprobe-controller',
      ]);
    });
  },
);

describe('deploy/compose/compose.yaml', () => {
  const file = join(DEPLOY, 'compose', 'compose.yaml');
  const compose = parseYaml(readFileSync(file, 'utf8'), { merge: true }) as {
    services: Record<
      string,
      {
        command?: string[];
        stop_grace_period?: string;
        healthcheck?: unknown;
        volumes?: string[];
        environment?: Record<string, string>;
      }
    >;
  };

  it('has the hub cluster, two regions, two controllers, the testbed and Prometheus/Grafana', () => {
    const names = Object.keys(compose.services).sort();
    expect(names).toEqual(
      [
        'nats-hub-1',
        'nats-hub-2',
        'nats-hub-3',
        'nats-leaf-eu-west',
        'nats-leaf-us-east',
        'controller-1',
        'controller-2',
        'testbed',
        'agent-eu-west-1',
        'agent-us-east-1',
        'prometheus',
        'grafana',
      ].sort(),
    );
    for (const [name, s] of Object.entries(compose.services)) {
      if (name.startsWith('agent-')) {
        expect(Number.parseInt(s.stop_grace_period ?? '0', 10), name).toBeGreaterThan(DRAIN_GRACE_S);
        expect(s.environment?.LIVEPROBE_JS_DOMAIN).toBe('hub');
      }
      if (!['prometheus', 'grafana'].includes(name))
        expect(s.healthcheck, `${name} healthcheck`).toBeDefined();
    }
  });

  it('mounts files of deploy/ that exist (NATS configs, Prometheus rules, Grafana provisioning)', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0] as string;
        // A compose default (`$` + `{LIVEPROBE_NATS_VARS_DIR:-../nats}`) resolves to ../nats here.
        const local = src.replace(/^\$\{LIVEPROBE_NATS_VARS_DIR:-([^}]+)\}/, '$1');
        if (!local.startsWith('../')) continue;
        const path = join(dirname(file), local);
        expect(existsSync(path), `${name}: ${src}`).toBe(true);
      }
    }
  });

  it('parses with `docker compose config` where the compose plugin exists', (ctx) => {
    if (!has('docker', ['compose', 'version'])) {
      console.log('[deploy] docker compose plugin not installed here: `docker compose config` not run');
      ctx.skip();
      return;
    }
    const r = spawnSync('docker', ['compose', '-f', file, 'config', '--quiet'], {
      env: {
        ...process.env,
        LIVEPROBE_TOKENS: 'ops:admin:0123456789abcdef0123',
        LIVEPROBE_GRAFANA_ADMIN_PASSWORD: 'x',
      },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('Dockerfile contract', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  it('is multi-stage, non-root, tini as PID 1, with a HEALTHCHECK, the rules file and every Chromium flag in env', () => {
    expect(text.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^USER 1000:1000$/m);
    expect(text).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"/m);
    expect(text).toMatch(/^HEALTHCHECK /m);
    expect(text).toMatch(/COPY deploy\/rules\.yaml \.\/deploy\/rules\.yaml/);
    expect(text).toMatch(/LIVEPROBE_CHROMIUM_ARGS="--/);
    // Whatever flags the image sets, the config schema accepts them.
    const args = /LIVEPROBE_CHROMIUM_ARGS="([^"]+)"/.exec(text)?.[1] as string;
    expect(ConfigSchema.parse({ browser: { args } }).browser.args).toContain('--disable-gpu');
  });
});

// nats-server is a declared dependency (scripts/ensure-deps.sh installs it): missing, this fails.
describe('deploy/nats configs', () => {
  it('are valid for nats-server (-t) as shipped', () => {
    // (nats-server.conf reads its secrets from env vars: test/chaos/permissions.test.ts runs it.)
    for (const f of ['hub.conf', 'leaf-eu-west.conf', 'leaf-us-east.conf']) {
      const path = join(DEPLOY, 'nats', f);
      const r = spawnSync('nats-server', ['-t', '-c', path], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`, f).toContain('is valid');
    }
  });

  it('the Helm values for the official chart carry the same domains and region permissions', () => {
    for (const region of ['eu-west', 'us-east']) {
      const values = parseYaml(
        readFileSync(join(DEPLOY, 'k8s', 'nats', `leaf-${region}.values.yaml`), 'utf8'),
      );
      expect(values.config.jetstream.merge.domain).toBe(region);
      const conf = readFileSync(join(DEPLOY, 'nats', `leaf-${region}.conf`), 'utf8');
      const allow = values.config.merge.authorization.users[0].permissions.publish.allow as string[];
      // The work-queue API in the hub's domain and the acks: the same subjects as the file's agents.
      const jobs = allow.filter((x) => x.startsWith('$JS'));
      expect(jobs).toHaveLength(3);
      for (const subject of jobs) expect(conf, `${region}: ${subject}`).toContain(`"${subject}"`);
      expect(
        allow
          .filter((x) => x.startsWith('liveprobe.'))
          .every((x) => x.includes(`.${region}`) || x === 'liveprobe.time'),
      ).toBe(true);
    }
    const hub = parseYaml(readFileSync(join(DEPLOY, 'k8s', 'nats', 'hub.values.yaml'), 'utf8'));
    expect(hub.config.jetstream.merge.domain).toBe('hub');
    expect(hub.config.cluster.replicas).toBe(3);
  });
});
