import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { type Alert, api } from './api.js';
import { ago, localClock, utcClock } from './format.js';
import { feed } from './live.js';
import { type Route, wall } from './router.js';
import { session } from './session.js';
import { Store, useStore, useTick } from './store.js';

/** Firing alerts, for the header count (refreshed on alert events and every 15 s). */
export const firing = new Store<number | undefined>(undefined);

let started = false;
function startFiringCount(): void {
  if (started) return;
  started = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const load = () =>
    api<Alert[]>('/v1/alerts?state=firing').then(
      (a) => firing.set(a.filter((x) => x.silenced_by.length === 0).length),
      () => undefined,
    );
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  };
  void load();
  setInterval(load, 15_000);
  feed.on('alert', soon);
  feed.on('reconnected', soon);
}

const NAV: [Route['view'], string, string][] = [
  ['board', '/', 'Board'],
  ['alerts', '/alerts', 'Alerts'],
  ['sweeps', '/sweeps', 'Sweeps'],
  ['fleet', '/fleet', 'Fleet'],
];

export function useFeedState() {
  const [, bump] = useState(0);
  useEffect(() => feed.onState(() => bump((n) => n + 1)), []);
  return feed.state;
}

export function Header({ current }: { current: Route['view'] }) {
  startFiringCount();
  const now = useTick(1000);
  const state = useFeedState();
  const n = useStore(firing);
  const who = useStore(session);
  const d = new Date(now);
  const feedWord = state === 'live' ? 'live' : state === 'connecting' ? 'connecting' : 'disconnected';
  const feedGlyph = state === 'live' ? '●' : state === 'connecting' ? '◌' : '✗';
  return html`
    <header class="top">
      <a class="brand" href=${wall ? '/?wall=1' : '/'}>liveprobe</a>
      ${
        !wall &&
        html`<nav aria-label="views">
          ${NAV.map(
            ([v, href, label]) =>
              html`<a href=${href} class=${current === v ? 'on' : ''} aria-current=${current === v ? 'page' : undefined}>${label}</a>`,
          )}
        </nav>`
      }
      <span class="clock" title="event clock">
        <b>${utcClock(d)}</b> UTC · ${localClock(d)} local
      </span>
      <span class=${`feed feed-${state}`} role="status" title="live feed (/v1/events)">${feedGlyph} ${feedWord}</span>
      <a class=${`firing ${n ? 'hot' : ''}`} href="/alerts" title="firing alerts">
        ${n === undefined ? '–' : n} firing
      </a>
      ${!wall && who?.auth && html`<span class="who">${who.name} (${who.role}) <a href="/signin?out=1">sign out</a></span>`}
    </header>
    ${state !== 'live' && html`<${Banner} now=${now} state=${state} />`}
  `;
}

/** The page never looks healthy while disconnected: say so, and how old the data on screen is. */
function Banner({ now, state }: { now: number; state: string }) {
  const age = now - feed.lastDataAt;
  return html`<div class=${`banner ${state === 'down' ? 'down' : ''}`} role="alert">
    ${
      state === 'down'
        ? html`<b>Disconnected from the controller</b> — data on this page is ${ago(age)} old; reconnecting by itself…`
        : html`Connecting to the live feed… (data ${ago(age)} old)`
    }
  </div>`;
}
