/** The one HTTP call every notifier makes, with failures classified by what the caller should do. */

/** A notification that failed: retry it (network, 5xx, 429, timeout) or not (other 4xx: fix the config). */
export class NotifyError extends Error {
  override readonly name = 'NotifyError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

export type Fetch = typeof fetch;

export interface PostOptions {
  fetch: Fetch;
  url: string;
  body: string;
  headers?: Record<string, string>;
  signal: AbortSignal;
}

/** POSTs a JSON body; resolves on 2xx, throws NotifyError otherwise. Never puts the URL in the message. */
export async function postJson(o: PostOptions): Promise<void> {
  let res: Response;
  try {
    res = await o.fetch(o.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'liveprobe-alerting', ...o.headers },
      body: o.body,
      signal: o.signal,
      // A receiver URL is configuration, not a suggestion: a redirect (to an internal address, say) is an
      // error to fix, never followed.
      redirect: 'manual',
    });
  } catch (err) {
    const e = err as Error;
    throw new NotifyError(
      e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timeout' : `network: ${e.message}`,
      true,
    );
  }
  const text = await readBounded(res, MAX_RESPONSE_BYTES).catch(() => '');
  if (res.ok) return;
  if (res.status >= 300 && res.status < 400)
    throw new NotifyError(
      `HTTP ${res.status}: redirects are not followed; fix the receiver URL`,
      false,
      res.status,
    );
  const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
  throw new NotifyError(`HTTP ${res.status}: ${text.slice(0, 200)}`, retryable, res.status);
}

/** Only the start of a receiver's answer matters (an error message); the rest is never read into memory. */
const MAX_RESPONSE_BYTES = 64 * 1024;

async function readBounded(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < max) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      n += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}
