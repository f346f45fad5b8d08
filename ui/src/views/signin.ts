import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type Session } from '../api.js';
import { feed } from '../live.js';
import { navigate } from '../router.js';
import { loadSession, session } from '../session.js';

/**
 * Exchanges an API token for a session cookie (HttpOnly, SameSite=Strict): the token is sent once and
 * never kept by the page, and EventSource (which cannot send a header) is authenticated by the cookie.
 */
export function SignIn() {
  const q = new URLSearchParams(location.search);
  const next = q.get('next') || '/';
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (q.get('out') !== '1') return;
    void api('/v1/session', { method: 'DELETE' })
      .catch(() => undefined)
      .then(() => {
        session.set(undefined);
        navigate('/signin', true);
      });
  }, []);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api<Session>('/v1/session', { method: 'POST', body: { token } });
      setToken('');
      await loadSession();
      feed.restart();
      navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', true);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <form onSubmit=${submit} aria-label="sign in">
      <h1>liveprobe command center</h1>
      <p>Sign in with an API token (viewer, operator or admin).</p>
      <label>Token <input type="password" name="token" autocomplete="current-password" required value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} /></label>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </main>`;
}
