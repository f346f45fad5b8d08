import { useEffect, useState } from 'preact/hooks';

/** A tiny observable value: views subscribe, writers replace the value and notify. */
export class Store<T> {
  private readonly subs = new Set<() => void>();
  constructor(private value: T) {}
  get(): T {
    return this.value;
  }
  set(v: T): void {
    this.value = v;
    for (const fn of this.subs) fn();
  }
  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    return () => {
      this.subs.delete(fn);
    };
  }
}

export function useStore<T>(s: Store<T>): T {
  const [, bump] = useState(0);
  useEffect(() => s.subscribe(() => bump((n) => n + 1)), [s]);
  return s.get();
}

/** Re-renders every `ms` (clocks, ages). */
export function useTick(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** Calls `load` now, every `everyMs`, and when the live feed reconnects; returns its last result. */
export function usePoll<T>(
  load: () => Promise<T>,
  everyMs: number,
  deps: unknown[],
): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (d) => {
          if (!live) return;
          setData(d);
          setError(undefined);
        },
        (e: Error) => live && setError(e.message),
      );
    void run();
    const t = setInterval(run, everyMs);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, [...deps, n, everyMs]);
  return { data, error, reload: () => setN((x) => x + 1) };
}
