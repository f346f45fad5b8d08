import { type ChildProcess, spawn } from 'node:child_process';

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
}): Promise<NatsChild> {
  const args = ['-js', '-sd', opts.storeDir, '-a', '127.0.0.1', '-p', String(opts.port)];
  if (opts.monitorPort !== undefined) args.push('-m', String(opts.monitorPort));
  let child: ChildProcess;
  try {
    child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`cannot start nats-server (apt-get install nats-server): ${(err as Error).message}`);
  }
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf = (buf + d.toString()).slice(-4000);
      if (buf.includes('Server is ready')) {
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
  return {
    url: `nats://127.0.0.1:${opts.port}`,
    port: opts.port,
    child,
    stop: (signal = 'SIGTERM') => stopChild(child, signal),
  };
}
