import { describe, expect, it } from 'vitest';
import { ChromiumNotFoundError, resolveChromiumPath, STANDARD_CHROMIUM_PATHS } from './chromium.js';

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
