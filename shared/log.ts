import { isatty } from 'node:tty';
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

/** Paths pino blanks before a line is written: credentials never reach a log. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'pass',
  '*.pass',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'routingKey',
  '*.routingKey',
  'secret',
  '*.secret',
  'nats.pass',
  'nats.token',
  'tokens[*].token',
  '*.tokens[*].token',
  // alert receivers: webhook HMAC keys, PagerDuty routing keys, Slack webhook URLs (the URL is the secret)
  'routing_key',
  '*.routing_key',
  'webhook_url',
  '*.webhook_url',
  'receivers[*].secret',
  'receivers[*].routing_key',
  'receivers[*].webhook_url',
];

/**
 * Services log JSON lines to stdout; a CLI whose stdout is its output (probe --json) logs to stderr (fd 2);
 * the demo logs to a file (a path). A terminal gets pino-pretty lines instead of JSON unless
 * LIVEPROBE_LOG_FORMAT=json (a pipe or a file always gets JSON, for log shippers).
 */
export function createLogger(
  name: string,
  level = process.env.LIVEPROBE_LOG_LEVEL ?? 'info',
  dest: 1 | 2 | string = 1,
): Logger {
  const opts = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (typeof dest === 'string') return pino(opts, pino.destination({ dest, sync: true, mkdir: true }));
  if (isatty(dest) && process.env.LIVEPROBE_LOG_FORMAT !== 'json') {
    return pino(opts, pretty({ destination: dest, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino(opts, pino.destination({ fd: dest, sync: dest === 2 }));
}

/**
 * Strips query-string values and userinfo from a URL: signed CDN URLs carry their credentials there.
 * Keys stay so an operator can still tell which parameters were present.
 */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw.replace(/\?.*$/, '?[redacted]');
  }
  if (url.username || url.password) {
    url.username = 'redacted';
    url.password = '';
  }
  const keys = [...url.searchParams.keys()];
  if (keys.length === 0) return url.href;
  url.search = keys.map((k) => `${encodeURIComponent(k)}=redacted`).join('&');
  return url.href;
}

/**
 * Redacts every URL inside free text (a child process's log line names its input, e.g.
 * `srt://gw:9000?passphrase=...: Connection refused`).
 */
export function redactUrlsIn(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]+/gi, (u) => redactUrl(u));
}

export type { Logger };
