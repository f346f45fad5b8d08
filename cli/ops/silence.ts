import { CliError, EXIT } from './exit.js';

/** amtool-style matcher: `name=value`, `name!=value`, `name=~regex`, `name!~regex` (quotes around the value allowed). */
export function parseMatcher(s: string): {
  name: string;
  value: string;
  is_regex: boolean;
  is_equal: boolean;
} {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(s);
  if (!m)
    throw new CliError(
      `bad matcher "${s}": use name=value, name!=value, name=~regex or name!~regex`,
      EXIT.usage,
    );
  const op = m[2] as string;
  let value = m[3] as string;
  if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
  return { name: m[1] as string, value, is_regex: op.includes('~'), is_equal: !op.startsWith('!') };
}
