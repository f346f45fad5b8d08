import './app.css';
import { html, render } from 'htm/preact';
import { useEffect } from 'preact/hooks';
import { setUnauthorizedHandler } from './api.js';
import { Board } from './board.js';
import { Header, useFeedState } from './header.js';
import { feed } from './live.js';
import { interceptLinks, navigate, route, wall } from './router.js';
import { loadSession, session } from './session.js';
import { useStore } from './store.js';
import { AlertsView } from './views/alerts.js';
import { FleetView } from './views/fleet.js';
import { SignIn } from './views/signin.js';
import { SweepsView } from './views/sweeps.js';
import { TargetView } from './views/target.js';

const TITLES = {
  board: 'Board',
  target: 'Target',
  alerts: 'Alerts',
  sweeps: 'Sweeps',
  fleet: 'Fleet',
  signin: 'Sign in',
  missing: 'Not found',
};

function App() {
  const r = useStore(route);
  const who = useStore(session);
  const state = useFeedState();
  useEffect(() => {
    document.title = `${TITLES[r.view]} · liveprobe`;
  }, [r.view]);
  if (r.view === 'signin') return html`<${SignIn} />`;
  let view: ReturnType<typeof html>;
  switch (r.view) {
    case 'board':
      view = html`<${Board} />`;
      break;
    case 'target':
      view = html`<${TargetView} id=${r.id} region=${r.region} />`;
      break;
    case 'alerts':
      view = html`<${AlertsView} />`;
      break;
    case 'sweeps':
      view = html`<${SweepsView} id=${r.id} />`;
      break;
    case 'fleet':
      view = html`<${FleetView} />`;
      break;
    default:
      view = html`<main><h1>Not found</h1><p>No view at ${r.path}. <a href="/">Back to the board</a></p></main>`;
  }
  return html`<div class=${`app ${state === 'down' ? 'stale' : ''}`} data-role=${who?.role}>
    <${Header} current=${r.view} />
    ${view}
  </div>`;
}

async function boot(): Promise<void> {
  interceptLinks();
  if (wall) document.documentElement.classList.add('wall');
  setUnauthorizedHandler(() => {
    if (route.get().view !== 'signin')
      navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
  });
  const s = await loadSession();
  // Auth on and not signed in: the sign-in form first (the feed would only be refused).
  if (!s && route.get().view !== 'signin')
    navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, true);
  if (s) feed.start();
  render(html`<${App} />`, document.getElementById('app') as HTMLElement);
}

void boot();
