import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { CliError, EXIT } from './exit.js';

/**
 * Where the operator commands find their controller: --url/--token, else LIVEPROBE_URL/LIVEPROBE_TOKEN,
 * else a context of ~/.config/liveprobe/config.yaml (--context, LIVEPROBE_CONTEXT, or current-context),
 * else http://127.0.0.1:8080.
 */
export const CliConfig = z.strictObject({
  'current-context': z.string().optional(),
  contexts: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        url: z.url({ protocol: /^https?$/ }),
        token: z.string().min(1).optional(),
      }),
    )
    .default([]),
});
export type CliConfig = z.infer<typeof CliConfig>;

export interface Connection {
  url: string;
  token?: string;
  /** Where the values came from, for error messages. */
  source: string;
}

export const cliConfigPath = (): string =>
  process.env.LIVEPROBE_CLI_CONFIG ??
  join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'liveprobe', 'config.yaml');

export function loadCliConfig(path = cliConfigPath()): CliConfig | undefined {
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`${path}: not valid YAML: ${(err as Error).message}`, EXIT.config);
  }
  const parsed = CliConfig.safeParse(raw ?? {});
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new CliError(`${path}: ${i?.path.join('.') || '(root)'}: ${i?.message}`, EXIT.config);
  }
  return parsed.data;
}

export function resolveConnection(flags: { url?: string; token?: string; context?: string }): Connection {
  const ctxName = flags.context ?? process.env.LIVEPROBE_CONTEXT;
  let ctx: CliConfig['contexts'][number] | undefined;
  let source = 'default';
  if (!(flags.url ?? process.env.LIVEPROBE_URL) || ctxName) {
    const cfg = loadCliConfig();
    const name = ctxName ?? cfg?.['current-context'];
    if (name) {
      ctx = cfg?.contexts.find((c) => c.name === name);
      if (!ctx)
        throw new CliError(
          `no context "${name}" in ${cliConfigPath()} (known: ${cfg?.contexts.map((c) => c.name).join(', ') || 'none'})`,
          EXIT.config,
        );
      source = `context ${name}`;
    }
  }
  const url = flags.url ?? process.env.LIVEPROBE_URL ?? ctx?.url ?? 'http://127.0.0.1:8080';
  if (flags.url) source = '--url';
  else if (process.env.LIVEPROBE_URL && !ctxName) source = 'LIVEPROBE_URL';
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new CliError(`controller URL "${url}" (${source}) is not an http(s) URL`, EXIT.config);
  }
  const token = flags.token ?? process.env.LIVEPROBE_TOKEN ?? ctx?.token;
  return { url: url.replace(/\/+$/, ''), token, source };
}
