import { type Logger, pino } from 'pino';

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

/** Services log JSON lines to stdout; a CLI whose stdout is its output (probe --json) logs to stderr (fd 2). */
export function createLogger(
  name: string,
  level = process.env.LIVEPROBE_LOG_LEVEL ?? 'info',
  fd: 1 | 2 = 1,
): Logger {
  return pino(
    { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    pino.destination({ fd, sync: fd === 2 }),
  );
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

export type { Logger };
