import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsChild, startNatsServer, stopChild } from '../../cli/children.js';

import { freeLoopbackPort } from '../../cli/ports.js';

export { freeLoopbackPort as freePort, stopChild as stopProcess };

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A real nats-server with JetStream on a free loopback port and its own store directory. */
export async function startNats(opts: { storeDir?: string; port?: number } = {}): Promise<NatsChild> {
  const port = opts.port ?? (await freeLoopbackPort());
  const store = opts.storeDir ? undefined : tempDir('nats');
  const server = await startNatsServer({ port, storeDir: opts.storeDir ?? (store as { path: string }).path });
  return {
    ...server,
    async stop(signal) {
      await server.stop(signal);
      store?.remove();
    },
  };
}

/**
 * A real nats-server whose results subjects carry their target's partition (of `partitions`), mapped by the
 * server as deploy/nats configures it for partitioned controllers; its store in `dir`.
 */
export async function startPartitionedNats(dir: string, partitions: number): Promise<NatsChild> {
  const conf = join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [
      `jetstream { store_dir: "${join(dir, 'store')}" }`,
      'mappings: {',
      `  "liveprobe.results.*.*.*": "liveprobe.results.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{partition(${partitions},3)}}"`,
      '}',
    ].join('\n'),
  );
  return startNatsServer({ port: await freeLoopbackPort(), storeDir: dir, configFile: conf });
}
