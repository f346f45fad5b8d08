import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConnection } from './context.js';
import { CliError, EXIT } from './exit.js';
import { table } from './output.js';
import { parseMatcher } from './silence.js';

describe('operator CLI: connection, matchers, tables', () => {
  const saved = { ...process.env };
  let dir: string | undefined;
  afterEach(() => {
    process.env = { ...saved };
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const config = (text: string) => {
    dir = mkdtempSync(join(tmpdir(), 'lp-cli-'));
    const path = join(dir, 'config.yaml');
    writeFileSync(path, text);
    process.env.LIVEPROBE_CLI_CONFIG = path;
  };
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof CliError ? err.code : -1;
    }
    return undefined;
  };

  it('takes --url/--token over the environment over the current context', () => {
    delete process.env.LIVEPROBE_URL;
    delete process.env.LIVEPROBE_TOKEN;
    delete process.env.LIVEPROBE_CONTEXT;
    config(
      'current-context: prod\ncontexts:\n  - {name: prod, url: "https://lp.example.com/", token: t-prod}\n  - {name: lab, url: "http://10.0.0.5:8080"}\n',
    );
    expect(resolveConnection({})).toMatchObject({
      url: 'https://lp.example.com',
      token: 't-prod',
      source: 'context prod',
    });
    expect(resolveConnection({ context: 'lab' })).toMatchObject({
      url: 'http://10.0.0.5:8080',
      token: undefined,
    });
    process.env.LIVEPROBE_URL = 'http://127.0.0.1:9999';
    process.env.LIVEPROBE_TOKEN = 'env-token';
    expect(resolveConnection({})).toMatchObject({
      url: 'http://127.0.0.1:9999',
      token: 'env-token',
      source: 'LIVEPROBE_URL',
    });
    expect(resolveConnection({ url: 'http://h:1', token: 'flag' })).toMatchObject({
      url: 'http://h:1',
      token: 'flag',
      source: '--url',
    });
  });

  it('refuses a broken config file, an unknown context and a non-http URL as configuration errors (78)', () => {
    delete process.env.LIVEPROBE_URL;
    config('contexts:\n  - {name: prod, url: "ftp://x"}\n');
    expect(code(() => resolveConnection({}))).toBe(EXIT.config);
    config('current-context: nope\ncontexts: []\n');
    expect(code(() => resolveConnection({}))).toBe(EXIT.config);
    expect(code(() => resolveConnection({ url: 'localhost:8080' }))).toBe(EXIT.config);
  });

  it('parses amtool-style matchers', () => {
    expect(parseMatcher('target=ch1')).toEqual({
      name: 'target',
      value: 'ch1',
      is_regex: false,
      is_equal: true,
    });
    expect(parseMatcher("alertname=~'stream-.*'")).toEqual({
      name: 'alertname',
      value: 'stream-.*',
      is_regex: true,
      is_equal: true,
    });
    expect(parseMatcher('region!=eu')).toMatchObject({ is_regex: false, is_equal: false });
    expect(parseMatcher('severity!~warn|info')).toMatchObject({
      value: 'warn|info',
      is_regex: true,
      is_equal: false,
    });
    expect(code(() => parseMatcher('no operator'))).toBe(EXIT.usage);
  });

  it('prints plain aligned columns off a terminal', () => {
    const rows = [
      { id: 'a', n: 1 },
      { id: 'long-id', n: 22 },
    ];
    const cols = [
      { header: 'id', value: (r: (typeof rows)[number]) => r.id },
      { header: 'n', value: (r: (typeof rows)[number]) => r.n },
    ];
    expect(table(rows, cols, false)).toBe('ID       N\na        1\nlong-id  22');
    expect(table(rows, cols, true)).toContain('┌');
  });
});
