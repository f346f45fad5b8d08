import type { Connection } from './context.js';
import { CliError, EXIT } from './exit.js';

export interface ApiResponse<T> {
  status: number;
  body: T;
  contentType: string;
}

/** Message of an API error body: problem+json (detail/title) or the {error, message, issues} shape. */
export function errorMessage(body: unknown, status: number): string {
  if (body && typeof body === 'object') {
    const b = body as {
      message?: string;
      detail?: string;
      title?: string;
      issues?: { path: string; message: string }[];
    };
    const head = b.detail ?? b.message ?? b.title ?? `HTTP ${status}`;
    const issues = (b.issues ?? []).map((i) => `  ${i.path}: ${i.message}`);
    return [head, ...issues].join('\n');
  }
  return typeof body === 'string' && body ? body.slice(0, 500) : `HTTP ${status}`;
}

/** A thin fetch wrapper: any failure to get an answer, and any 4xx/5xx, is exit 3 (could not run). */
export class ApiClient {
  constructor(readonly conn: Connection) {}

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: { allow?: number[]; timeoutMs?: number } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json, text/*' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    let res: Response;
    try {
      res = await fetch(`${this.conn.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach the controller at ${this.conn.url} (${this.conn.source}): ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        EXIT.couldNotRun,
      );
    }
    const contentType = res.headers.get('content-type') ?? '';
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new CliError(
        `the controller at ${this.conn.url} closed the connection mid-answer: ${(err as Error).message}`,
        EXIT.couldNotRun,
      );
    }
    let parsed: unknown = text;
    if (contentType.includes('json') && text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the text
      }
    }
    if (res.status >= 400 && !opts.allow?.includes(res.status)) {
      const hint =
        res.status === 401
          ? ' (set --token or LIVEPROBE_TOKEN)'
          : res.status === 403
            ? ' (this token lacks the role)'
            : '';
      throw new CliError(
        `${method} ${path}: ${res.status} ${errorMessage(parsed, res.status)}${hint}`,
        EXIT.couldNotRun,
      );
    }
    return { status: res.status, body: parsed as T, contentType };
  }

  get<T = unknown>(path: string) {
    return this.request<T>('GET', path).then((r) => r.body);
  }
}
