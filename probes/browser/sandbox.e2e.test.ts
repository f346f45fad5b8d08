/**
 * Chromium's sandbox is on wherever the host allows it, and the launch code says which: the real pool, in a
 * separate process (testing/sandbox-check.ts), as this user and — when this is root, where the sandbox must
 * stay off — as an unprivileged user (`nobody`, through setpriv). The proof is the renderers' seccomp mode
 * in /proc: 2 (seccomp-bpf, the sandbox) when the pool says it is on, 0 when it says off.
 */
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { distEntry } from '../../test/helpers/fleet.js';

const run = promisify(execFile);
const NOBODY = 65534;

interface Check {
  uid: number;
  mode: 'namespace' | 'setuid' | 'off';
  reason: string;
  renderers: number;
  seccomp: number[];
}

async function check(asNobody: boolean): Promise<Check> {
  const script = distEntry('probes/browser/testing/sandbox-check.js');
  const home = mkdtempSync(join(tmpdir(), 'sandbox-check-'));
  try {
    if (asNobody) chownSync(home, NOBODY, NOBODY);
    const env = { ...process.env, HOME: home, TMPDIR: home };
    const cmd = asNobody
      ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, script]]
      : [process.execPath, [script]];
    const { stdout } = await run(cmd[0] as string, cmd[1] as string[], { env, timeout: 90_000 });
    return JSON.parse(stdout.trim().split('\n').pop() as string) as Check;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const consistent = (c: Check) => {
  expect(c.renderers).toBeGreaterThan(0);
  if (c.mode === 'off') expect(c.seccomp.every((s) => s === 0)).toBe(true);
  else expect(c.seccomp.every((s) => s === 2)).toBe(true);
};

describe('Chromium sandbox: on wherever the kernel allows, off as root, and said so', () => {
  const isRoot = process.getuid?.() === 0;

  it('as this user: the pool says which sandbox, and the renderers agree', async () => {
    const c = await check(false);
    if (isRoot) {
      expect(c.mode).toBe('off');
      expect(c.reason).toMatch(/root/);
    }
    consistent(c);
  }, 120_000);

  // As root the pool is started as nobody through setpriv (util-linux); as any other user it already is one.
  it('as an unprivileged user on this host: the sandbox is on (user namespaces), renderers under seccomp-bpf', async () => {
    const c = await check(isRoot);
    expect(c.uid).not.toBe(0);
    if (isRoot) expect(c.uid).toBe(NOBODY);
    expect(c.mode).not.toBe('off');
    consistent(c);
  }, 120_000);
});
