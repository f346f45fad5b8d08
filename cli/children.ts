import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Signal a child by PID and wait for it to exit (SIGKILL after graceMs). */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 5000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, signal);
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(child.pid, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export interface NatsChild {
  url: string;
  port: number;
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * nats-server with JetStream (file storage in storeDir) bound to loopback, monitoring port too.
 * Resolves when the server logs that it is ready; rejects with its last output if it exits first.
 */
export async function startNatsServer(opts: {
  port: number;
  storeDir: string;
  monitorPort?: number;
  /** A nats-server config file (users, permissions, TLS, JetStream store); port and address still apply. */
  configFile?: string;
  /** Extra environment for the server (a config file may read secrets from env vars). */
  env?: NodeJS.ProcessEnv;
  /** Extra flags (e.g. --tls --tlscert F --tlskey F). */
  extraArgs?: string[];
}): Promise<NatsChild> {
  // With a config file, JetStream and its store come from the file (nats-server refuses both).
  const args = opts.configFile
    ? ['-c', opts.configFile, '-a', '127.0.0.1', '-p', String(opts.port)]
    : ['-js', '-sd', opts.storeDir, '-a', '127.0.0.1', '-p', String(opts.port)];
  if (opts.extraArgs) args.push(...opts.extraArgs);
  if (opts.monitorPort !== undefined) args.push('-m', String(opts.monitorPort));
  const child = await spawnNats(args, 'Server is ready', opts.env);
  return {
    url: `nats://127.0.0.1:${opts.port}`,
    port: opts.port,
    child,
    stop: (signal = 'SIGTERM') => stopChild(child, signal),
  };
}

export interface NatsClusterNode extends NatsChild {
  name: string;
  clusterPort: number;
  storeDir: string;
  /** Starts this node again (same name, ports and store) after it was stopped or killed. */
  restart(): Promise<NatsClusterNode>;
}

export interface NatsCluster {
  nodes: NatsClusterNode[];
  /** Client URLs of every node, for a client's server list. */
  urls: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * A JetStream cluster of nats-server processes on loopback (3 nodes for R3 streams), each with its own
 * store directory. Resolves when every node is ready; JetStream needs a moment more to elect its meta
 * leader (clients see 503 "JetStream system temporarily unavailable" until then).
 */
export async function startNatsCluster(opts: {
  ports: number[];
  clusterPorts: number[];
  storeDirs: string[];
  name?: string;
}): Promise<NatsCluster> {
  const name = opts.name ?? 'liveprobe';
  const routes = opts.clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const startNode = async (i: number): Promise<NatsClusterNode> => {
    const port = opts.ports[i] as number;
    const clusterPort = opts.clusterPorts[i] as number;
    const storeDir = opts.storeDirs[i] as string;
    const nodeName = `${name}-n${i + 1}`;
    const child = await spawnNats(
      [
        '-js',
        '-sd',
        storeDir,
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '--server_name',
        nodeName,
        '--cluster_name',
        name,
        '--cluster',
        `nats://127.0.0.1:${clusterPort}`,
        '--routes',
        routes,
      ],
      // A clustered node is "ready" as a server before it has routes; that is enough to start the others.
      'Server is ready',
    );
    const node: NatsClusterNode = {
      name: nodeName,
      url: `nats://127.0.0.1:${port}`,
      port,
      clusterPort,
      storeDir,
      child,
      stop: (signal = 'SIGTERM') => stopChild(child, signal),
      restart: async () => {
        const again = await startNode(i);
        nodes[i] = again;
        return again;
      },
    };
    return node;
  };
  const nodes = await Promise.all(opts.ports.map((_, i) => startNode(i)));
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    stop: async (signal) => {
      await Promise.all(nodes.map((n) => n.stop(signal)));
    },
  };
}

/** Spawns nats-server and resolves once it logged `ready`; rejects with its last output if it exits first. */
async function spawnNats(args: string[], ready: string, env?: NodeJS.ProcessEnv): Promise<ChildProcess> {
  let child: ChildProcess;
  try {
    child = spawn('nats-server', args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    });
  } catch (err) {
    throw new Error(`cannot start nats-server (apt-get install nats-server): ${(err as Error).message}`);
  }
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf = (buf + d.toString()).slice(-4000);
      if (buf.includes(ready)) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('error', (err) =>
      reject(new Error(`cannot start nats-server (apt-get install nats-server): ${err.message}`)),
    );
    child.once('exit', (code) => reject(new Error(`nats-server exited ${code}: ${buf.slice(-500)}`)));
  });
  return child;
}

/** PIDs of every live descendant of `root` (Linux /proc; empty elsewhere). */
export function descendants(root = process.pid): number[] {
  const parent = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(e), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [pid, pp] of parent) {
      if (pp === p) {
        out.push(pid);
        walk(pid);
      }
    }
  };
  walk(root);
  return out;
}

/** SIGKILL every descendant (the last resort of a stop that did not finish in time). */
export function killDescendants(): number {
  const pids = descendants();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  return pids.length;
}
