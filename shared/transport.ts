import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  type TlsOptions,
} from '@nats-io/transport-node';
import type { Config } from './config.js';
import type { Logger } from './log.js';

/**
 * The one place a process opens its NATS connection, so credentials (user/password, token, creds file)
 * work the same for agent and controller. Reconnects forever with jittered backoff: a NATS outage is
 * something to ride out, not a reason to exit.
 */
export function natsOptions(cfg: Config['nats'], name: string): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: cfg.url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    pingInterval: 10_000,
  };
  if (cfg.user) {
    opts.user = cfg.user;
    opts.pass = cfg.pass;
  }
  if (cfg.token) opts.token = cfg.token;
  if (cfg.credsFile) {
    const creds = readFileSync(cfg.credsFile);
    opts.authenticator = credsAuthenticator(creds) as Authenticator;
  } else if (cfg.nkeyFile) {
    const seed = readFileSync(cfg.nkeyFile, 'utf8').trim();
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed)) as Authenticator;
  }
  // Any TLS key (or a tls:// URL) makes TLS required: the client then refuses a plaintext server.
  const tlsUrl = opts.servers && (opts.servers as string[]).some((u) => u.startsWith('tls://'));
  if (cfg.tlsCaFile || cfg.tlsCertFile || cfg.tlsKeyFile || tlsUrl) {
    const tls: TlsOptions = {};
    if (cfg.tlsCaFile) tls.caFile = cfg.tlsCaFile;
    if (cfg.tlsCertFile) tls.certFile = cfg.tlsCertFile;
    if (cfg.tlsKeyFile) tls.keyFile = cfg.tlsKeyFile;
    opts.tls = tls;
  }
  return opts;
}

export async function connectNats(
  cfg: Config['nats'],
  name: string,
  logger: Logger,
  /** e.g. an agent's own inboxPrefix (its NATS permissions allow that prefix only). */
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const nc = await connect({ ...natsOptions(cfg, name), ...extra });
  logger.info({ server: nc.getServer(), name }, 'connected to NATS');
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        logger.warn(
          { status: s.type, server: 'server' in s ? s.server : undefined },
          'NATS connection status',
        );
      }
    }
  })();
  return nc;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
export const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));
export const decodeJson = (data: Uint8Array): unknown => JSON.parse(dec.decode(data));
