/**
 * The live feed (/v1/events over EventSource; the session cookie authenticates it). Its state is what the
 * header shows: a command-center page must never look healthy while it is disconnected.
 */
export type FeedState = 'connecting' | 'live' | 'down';

type Listener = (data: unknown) => void;

/** The `reconnected` event's data. */
export interface Reconnected {
  /** The server replayed the reports missed while down (a resume of the same EventSource). */
  reportsReplayed: boolean;
}

export function reportsReplayed(d: unknown): boolean {
  return (d as Reconnected | undefined)?.reportsReplayed === true;
}

class LiveFeed {
  state: FeedState = 'connecting';
  /** When the page last received data (event or API read): the "data is N s old" of the banner. */
  lastDataAt = Date.now();
  /** When the feed went down (for the banner). */
  downSince: number | undefined;
  private es: EventSource | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly stateListeners = new Set<() => void>();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryMs = 1000;

  start(): void {
    if (this.es) return;
    this.connect();
  }

  private connect(): void {
    clearTimeout(this.retryTimer);
    const es = new EventSource('/v1/events', { withCredentials: true });
    this.es = es;
    let openedBefore = false;
    es.onopen = () => {
      const wasDown = this.state !== 'live';
      this.retryMs = 1000;
      this.lastDataAt = Date.now();
      this.setState('live');
      // The browser's own retry of this EventSource sends Last-Event-ID and the server replays the reports
      // missed meanwhile, so views that count reports must not also re-read them (they would count twice).
      // Sweeps, agents and alerts are not replayed: every view re-reads those.
      if (wasDown) this.dispatch('reconnected', { reportsReplayed: openedBefore } satisfies Reconnected);
      openedBefore = true;
    };
    // Too far behind to replay: the server says so and every view re-reads.
    es.addEventListener('resync', () => this.dispatch('reconnected', { reportsReplayed: false }));
    es.onerror = () => {
      this.setState('down');
      // EventSource retries by itself while CONNECTING; a refused or failed response CLOSEs it for good,
      // so the page retries itself (a controller restart must not need a reload).
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        this.es = undefined;
        this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 10_000);
      }
    };
    for (const type of ['report', 'sweep', 'agent', 'alert']) {
      es.addEventListener(type, (ev) => {
        this.lastDataAt = Date.now();
        let data: unknown;
        try {
          data = JSON.parse((ev as MessageEvent<string>).data);
        } catch {
          return;
        }
        this.dispatch(type, data);
      });
    }
  }

  /** Restart the feed (after sign-in: the cookie changed). */
  restart(): void {
    this.es?.close();
    this.es = undefined;
    this.connect();
  }

  private setState(s: FeedState): void {
    if (s === 'down' && this.state !== 'down') this.downSince = Date.now();
    if (s !== 'down') this.downSince = undefined;
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.stateListeners) fn();
  }

  private dispatch(type: string, data: unknown): void {
    for (const fn of this.listeners.get(type) ?? []) fn(data);
  }

  on(type: 'report' | 'sweep' | 'agent' | 'alert' | 'reconnected', fn: Listener): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  onState(fn: () => void): () => void {
    this.stateListeners.add(fn);
    return () => {
      this.stateListeners.delete(fn);
    };
  }

  /** A successful API read also counts as fresh data. */
  touch(): void {
    this.lastDataAt = Date.now();
  }
}

export const feed = new LiveFeed();
