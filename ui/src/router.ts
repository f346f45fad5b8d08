import { Store } from './store.js';

export type Route =
  | { view: 'board' }
  | { view: 'target'; id: string; region?: string }
  | { view: 'alerts' }
  | { view: 'sweeps'; id?: string }
  | { view: 'fleet' }
  | { view: 'signin' }
  | { view: 'missing'; path: string };

/** Every view has its own path, so a wall screen can be pointed at one. */
export function parseRoute(loc: Location | URL): Route {
  const p = loc.pathname.replace(/\/+$/, '') || '/';
  const q = new URLSearchParams(loc.search);
  if (p === '/') return { view: 'board' };
  if (p === '/alerts') return { view: 'alerts' };
  if (p === '/fleet') return { view: 'fleet' };
  if (p === '/signin') return { view: 'signin' };
  if (p === '/sweeps') return { view: 'sweeps' };
  let m = /^\/sweeps\/([^/]+)$/.exec(p);
  if (m) return { view: 'sweeps', id: decodeURIComponent(m[1] as string) };
  m = /^\/target\/([^/]+)$/.exec(p);
  if (m)
    return { view: 'target', id: decodeURIComponent(m[1] as string), region: q.get('region') ?? undefined };
  return { view: 'missing', path: p };
}

export const route = new Store<Route>(parseRoute(location));
export const wall = new URLSearchParams(location.search).get('wall') === '1';

export function navigate(href: string, replace = false): void {
  const url = new URL(href, location.href);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route.set(parseRoute(url));
  window.scrollTo(0, 0);
}

/** Same-origin page links navigate without a reload (API links and new tabs are left alone). */
export function interceptLinks(): void {
  addEventListener('popstate', () => route.set(parseRoute(location)));
  document.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey)
      return;
    const a = (ev.target as Element | null)?.closest?.('a');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/v1/') || url.pathname.startsWith('/ui/'))
      return;
    ev.preventDefault();
    navigate(url.pathname + url.search);
  });
}
