import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsChild, startNatsServer, stopChild } from '../../cli/children.js';

export { stopChild as stopProcess };

/** A free TCP port on loopback (the OS picks it; we release it and hand the number on). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A real nats-server with JetStream on a free loopback port and its own store directory. */
export async function startNats(opts: { storeDir?: string; port?: number } = {}): Promise<NatsChild> {
  const port = opts.port ?? (await freePort());
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
