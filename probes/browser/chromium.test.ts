import { describe, expect, it } from 'vitest';
import {
  ChromiumNotFoundError,
  chooseSandbox,
  resolveChromiumPath,
  type SandboxHost,
  STANDARD_CHROMIUM_PATHS,
} from './chromium.js';

describe('resolveChromiumPath', () => {
  const only =
    (...paths: string[]) =>
    (p: string) =>
      paths.includes(p);

  it('prefers the option, then LIVEPROBE_CHROMIUM, then standard locations', () => {
    const all = only('/opt/a', '/opt/b', ...STANDARD_CHROMIUM_PATHS);
    expect(resolveChromiumPath('/opt/a', { LIVEPROBE_CHROMIUM: '/opt/b' }, all)).toBe('/opt/a');
    expect(resolveChromiumPath(undefined, { LIVEPROBE_CHROMIUM: '/opt/b' }, all)).toBe('/opt/b');
    expect(resolveChromiumPath(undefined, {}, all)).toBe('/usr/lib/chromium/chromium');
    expect(resolveChromiumPath(undefined, {}, only('/usr/bin/google-chrome'))).toBe('/usr/bin/google-chrome');
  });

  it('an explicit path that does not exist is an error, not a silent fallback', () => {
    expect(() => resolveChromiumPath('/nope', {}, only(...STANDARD_CHROMIUM_PATHS))).toThrow(/\/nope/);
    expect(() => resolveChromiumPath(undefined, { LIVEPROBE_CHROMIUM: '/nope' }, only())).toThrow(
      /LIVEPROBE_CHROMIUM=\/nope/,
    );
  });

  it('names the env var and the apt package when nothing is found', () => {
    const err = (() => {
      try {
        resolveChromiumPath(undefined, {}, only());
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ChromiumNotFoundError);
    expect(err?.message).toMatch(/LIVEPROBE_CHROMIUM/);
    expect(err?.message).toMatch(/apt-get install chromium/);
  });
});

describe('chooseSandbox', () => {
  const host = (o: Partial<SandboxHost> & { files?: Record<string, string> } = {}): SandboxHost => ({
    uid: 1000,
    env: {},
    readFile: (p) => o.files?.[p],
    stat: () => undefined,
    ...o,
  });
  const CHROME = '/usr/lib/chromium/chromium';

  it('off as root, and when the operator said --no-sandbox', () => {
    expect(chooseSandbox(CHROME, [], host({ uid: 0 }))).toMatchObject({
      mode: 'off',
      args: ['--no-sandbox'],
    });
    expect(chooseSandbox(CHROME, ['--no-sandbox'], host())).toMatchObject({ mode: 'off', args: [] });
  });

  it('user namespaces when the kernel allows them, else a root-owned setuid helper, else off with why', () => {
    expect(chooseSandbox(CHROME, [], host()).mode).toBe('namespace');
    const noNs = { files: { '/proc/sys/kernel/unprivileged_userns_clone': '0' } };
    const helper = (uid: number, mode: number) => (p: string) =>
      p === '/usr/lib/chromium/chrome-sandbox' ? { uid, mode } : undefined;
    expect(chooseSandbox(CHROME, [], host({ ...noNs, stat: helper(0, 0o104755) }))).toMatchObject({
      mode: 'setuid',
      args: [],
    });
    // a helper that is not setuid root is no sandbox
    const off = chooseSandbox(CHROME, [], host({ ...noNs, stat: helper(1000, 0o104755) }));
    expect(off).toMatchObject({ mode: 'off', args: ['--no-sandbox'] });
    expect(off.reason).toMatch(/unprivileged_userns_clone is 0/);
    const apparmor = { files: { '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1' } };
    expect(chooseSandbox(CHROME, [], host(apparmor)).reason).toMatch(/AppArmor/);
    const env = { CHROME_DEVEL_SANDBOX: '/opt/sb' };
    const sb = (p: string) => (p === '/opt/sb' ? { uid: 0, mode: 0o104755 } : undefined);
    expect(chooseSandbox(CHROME, [], host({ ...apparmor, env, stat: sb })).mode).toBe('setuid');
  });
});
