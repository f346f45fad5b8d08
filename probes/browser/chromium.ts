import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where Debian/Ubuntu and Google packages put Chromium; the real binary first (the /usr/bin one is a wrapper). */
export const STANDARD_CHROMIUM_PATHS = [
  '/usr/lib/chromium/chromium',
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
] as const;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export class ChromiumNotFoundError extends Error {
  override readonly name = 'ChromiumNotFoundError';
}

/**
 * Chromium to launch: the option, else env LIVEPROBE_CHROMIUM, else the first standard location. An explicit
 * path that is not executable is an error (never silently replaced by another browser).
 */
export function resolveChromiumPath(
  option?: string,
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = isExecutable,
): string {
  if (option) {
    if (!exists(option))
      throw new ChromiumNotFoundError(`Chromium not executable at ${option} (chromiumPath option)`);
    return option;
  }
  const fromEnv = env.LIVEPROBE_CHROMIUM;
  if (fromEnv) {
    if (!exists(fromEnv))
      throw new ChromiumNotFoundError(`Chromium not executable at LIVEPROBE_CHROMIUM=${fromEnv}`);
    return fromEnv;
  }
  const found = STANDARD_CHROMIUM_PATHS.find((p) => exists(p));
  if (found) return found;
  throw new ChromiumNotFoundError(
    `Chromium not found in ${STANDARD_CHROMIUM_PATHS.join(', ')}. Install it (apt-get install chromium) ` +
      'or set LIVEPROBE_CHROMIUM to the browser binary.',
  );
}

/**
 * Chromium's sandbox: on wherever this host allows it. Chromium sandboxes its renderers either with user
 * namespaces (the kernel must let an unprivileged process create one) or with the setuid `chrome-sandbox`
 * helper; it refuses both as root. So:
 * - `--no-sandbox` already in the arguments (an operator's choice): off.
 * - running as root: off. Run the agent as a non-root user to get it (the container image does).
 * - unprivileged user namespaces allowed (max_user_namespaces > 0, and neither Debian's
 *   unprivileged_userns_clone nor Ubuntu's AppArmor restriction says no): `namespace`.
 * - else a root-owned setuid helper (CHROME_DEVEL_SANDBOX, or chrome-sandbox next to the binary): `setuid`.
 * - else off: Chromium would not start at all otherwise ("No usable sandbox!").
 */
export type SandboxMode = 'namespace' | 'setuid' | 'off';

export interface SandboxChoice {
  mode: SandboxMode;
  /** Why, for the launch log and `liveprobe doctor`-style diagnostics. */
  reason: string;
  /** Arguments to add to the launch (`--no-sandbox` when off). */
  args: string[];
}

/** What the choice reads from the host (injectable for tests). */
export interface SandboxHost {
  uid: number | undefined;
  env: NodeJS.ProcessEnv;
  readFile(path: string): string | undefined;
  stat(path: string): { uid: number; mode: number } | undefined;
}

export const systemSandboxHost = (): SandboxHost => ({
  uid: process.getuid?.(),
  env: process.env,
  readFile: (p) => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return undefined;
    }
  },
  stat: (p) => {
    try {
      const s = statSync(p);
      return { uid: s.uid, mode: s.mode };
    } catch {
      return undefined;
    }
  },
});

export function chooseSandbox(
  chromiumPath: string,
  args: readonly string[],
  host: SandboxHost = systemSandboxHost(),
): SandboxChoice {
  if (args.includes('--no-sandbox'))
    return { mode: 'off', reason: '--no-sandbox given in the browser arguments', args: [] };
  const off = (reason: string): SandboxChoice => ({ mode: 'off', reason, args: ['--no-sandbox'] });
  if (host.uid === 0)
    return off('running as root: Chromium refuses its sandbox as root (run the agent as a non-root user)');
  const maxNs = Number(host.readFile('/proc/sys/user/max_user_namespaces') ?? '1');
  const debianClone = host.readFile('/proc/sys/kernel/unprivileged_userns_clone');
  const apparmor = host.readFile('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  if (maxNs > 0 && debianClone !== '0' && apparmor !== '1')
    return { mode: 'namespace', reason: 'unprivileged user namespaces are allowed', args: [] };
  const helpers = [host.env.CHROME_DEVEL_SANDBOX, join(dirname(chromiumPath), 'chrome-sandbox')];
  for (const h of helpers) {
    if (!h) continue;
    const s = host.stat(h);
    if (s && s.uid === 0 && (s.mode & 0o4000) !== 0)
      return { mode: 'setuid', reason: `setuid helper ${h}`, args: [] };
  }
  const why =
    maxNs <= 0
      ? 'user.max_user_namespaces is 0'
      : debianClone === '0'
        ? 'kernel.unprivileged_userns_clone is 0'
        : 'AppArmor restricts unprivileged user namespaces';
  return off(`no usable sandbox: ${why} and no root-owned setuid chrome-sandbox helper`);
}
