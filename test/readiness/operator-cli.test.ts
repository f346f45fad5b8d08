import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Controller, startController } from '../../controller/index.js';
import { loadConfig } from '../../shared/config.js';
import { LOOPBACK_RULES } from '../../shared/egress.js';
import { createLogger } from '../../shared/log.js';
import { rulesYaml, startReceiver } from '../alerting/helpers.js';
import { freePort, startNats, tempDir } from '../helpers/procs.js';
import { json, lp } from './cli.js';

// The operator commands other than sweeps, against a real controller with tokens and a real notification
// receiver: receivers ls/test, silence add/ls/expire (amtool matchers), alerts ls, targets, auth errors.
const SECRET = 'cli-test-secret-0123456789';
const TOKEN = 'operator-token-cli-0123456789';

describe('operator CLI against a controller with tokens', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let controller: Controller;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const dir = tempDir('ready-cli');
  const env = () => ({ LIVEPROBE_URL: controller.url, LIVEPROBE_TOKEN: TOKEN });

  beforeAll(async () => {
    nats = await startNats();
    receiver = await startReceiver(SECRET);
    const rulesFile = join(dir.path, 'rules.yaml');
    writeFileSync(rulesFile, rulesYaml(receiver.url, SECRET));
    const config = loadConfig({
      env: { LIVEPROBE_TOKENS: `oncall:operator:${TOKEN}` },
      overrides: {
        'nats.url': nats.url,
        'egress.allow': LOOPBACK_RULES,
        'controller.port': await freePort(),
        'controller.rulesFile': rulesFile,
      },
    });
    controller = await startController({ config, logger: createLogger('test', 'warn') });
  }, 60_000);

  afterAll(async () => {
    await controller?.stop();
    await receiver?.stop();
    await nats?.stop();
    dir.remove();
  });

  it('lists receivers and sends a test notification through one (exit 3 when it is down)', async () => {
    const ls = await lp(['receivers', 'ls', '-o', 'json'], env());
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout).map((r: { name: string }) => r.name)).toEqual(['hook', 'pd', 'broken']);
    const ok = await lp(['receivers', 'test', 'hook'], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('hook: delivered');
    const got = receiver.receipts.find((r) => r.path === '/hook');
    expect(got?.signed).toBe(true);
    expect(receiver.alerts('/hook')[0]?.labels.alertname).toBe('liveprobe-receiver-test');
    const down = await lp(['receivers', 'test', 'broken'], env());
    expect(down.code).toBe(3);
    expect((await lp(['receivers', 'test', 'nope'], env())).code).toBe(3);
  }, 60_000);

  it('adds, lists and expires a silence with amtool-style matchers; the author is the token', async () => {
    const add = await lp(
      [
        'silence',
        'add',
        'target=ch1',
        'alertname=~stream-.*',
        '--duration',
        '2h',
        '-c',
        'planned switch',
        '-o',
        'json',
      ],
      env(),
    );
    expect(add.code, add.stderr).toBe(0);
    const silence = json<{ id: string; created_by: string; matchers: unknown[] }>(add);
    expect(silence.created_by).toBe('oncall');
    expect(silence.matchers).toEqual([
      { name: 'target', value: 'ch1', is_regex: false, is_equal: true },
      { name: 'alertname', value: 'stream-.*', is_regex: true, is_equal: true },
    ]);
    const ls = await lp(['silence', 'ls'], env());
    expect(ls.stdout).toMatch(new RegExp(`${silence.id}\\s+active\\s+target=ch1 alertname=~stream-\\.\\*`));
    expect((await lp(['silence', 'expire', silence.id], env())).code).toBe(0);
    expect((await lp(['silence', 'ls'], env())).stdout).not.toContain(silence.id);
    expect((await lp(['silence', 'add', 'target=ch1'], env())).code).toBe(64); // no comment
  }, 60_000);

  it('reads alerts, agents and targets in every output format; a missing token is exit 3 with a hint', async () => {
    const alerts = await lp(['alerts', 'ls', '-o', 'json'], env());
    expect(alerts.code, alerts.stderr).toBe(0);
    expect(Array.isArray(JSON.parse(alerts.stdout).alerts ?? JSON.parse(alerts.stdout))).toBe(true);
    expect((await lp(['agents', 'ls', '-o', 'yaml'], env())).stdout.trim()).toBe('[]');
    expect((await lp(['targets', 'ls'], env())).stdout.trim()).toBe('ID  PROTOCOL  LABELS  URL');
    const noToken = await lp(['targets', 'ls'], { LIVEPROBE_URL: controller.url, LIVEPROBE_TOKEN: '' });
    expect(noToken.code).toBe(3);
    expect(noToken.stderr).toContain('401');
    expect((await lp(['targets', 'ls', '-o', 'xml'], env())).code).toBe(64);
  }, 60_000);
});
