import { accessSync, constants } from 'node:fs';

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
