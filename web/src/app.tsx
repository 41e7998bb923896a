/**
 * @module The dashboard's shell: sign-in (an API token, or the one-time code of a login link in the
 * URL's `#login=` part, exchanged at once and removed from the address bar), the navigation, the
 * theme (light, dark, or the system's), and the hash routes of the pages.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, auth, onUnauthorized } from './api.js';
import { startLive, stopLive, useLiveStatus } from './live.js';
import { CostsPage } from './pages/costs.js';
import { CredentialsPage } from './pages/credentials.js';
import { PoolsPage } from './pages/pools.js';
import { RunnersPage } from './pages/runners.js';
import { SessionPage } from './pages/session.js';
import { SessionsPage } from './pages/sessions.js';
import { TokensPage } from './pages/tokens.js';

interface Whoami {
  name: string;
  role: string;
  orgId: string;
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

type Theme = 'system' | 'light' | 'dark';
function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, set] = useState<Theme>((localStorage.getItem('marionette.theme') as Theme | null) ?? 'system');
  useEffect(() => {
    if (theme === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem('marionette.theme', theme);
  }, [theme]);
  return [theme, set];
}

function SignIn({ onDone, error }: { onDone: (who: Whoami) => void; error: string | null }) {
  const [token, setToken] = useState('');
  const [err, setErr] = useState<string | null>(error);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const who = await api<Whoami>('GET', '/v1/whoami', undefined, token.trim());
      auth.set(token.trim());
      onDone(who);
    } catch (x: unknown) {
      setErr((x as Error).message);
    }
  };
  return (
    <main class="signin">
      <h1>Marionette</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit">Sign in</button>
        {err && (
          <p role="alert" class="error">
            {err}
          </p>
        )}
        <p class="muted">
          The first token is in <code>$MARIONETTE_HOME/token</code>; or run <code>mctl dashboard</code> for a one-time
          sign-in link.
        </p>
      </form>
    </main>
  );
}

const NAV = [
  ['#/sessions', 'Sessions'],
  ['#/pools', 'Pools'],
  ['#/runners', 'Runners'],
  ['#/tokens', 'Tokens'],
  ['#/costs', 'Costs'],
  ['#/credentials', 'Credentials'],
] as const;

export function App() {
  const hash = useHash();
  const [theme, setTheme] = useTheme();
  const [who, setWho] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const live = useLiveStatus();

  useEffect(() => {
    const signOut = () => {
      auth.clear();
      stopLive();
      setWho(null);
    };
    onUnauthorized.add(signOut);
    (async () => {
      const m = /^#login=([^&]+)/.exec(location.hash);
      if (m?.[1]) {
        history.replaceState(null, '', '/#/sessions');
        try {
          const r = await api<{ token: string }>(
            'POST',
            '/v1/dashboard/login',
            { code: decodeURIComponent(m[1]) },
            null,
          );
          auth.set(r.token);
        } catch (e: unknown) {
          setError(e instanceof ApiError ? e.message : String(e));
        }
      }
      if (auth.token) {
        try {
          setWho(await api<Whoami>('GET', '/v1/whoami'));
        } catch {
          auth.clear();
        }
      }
      setChecking(false);
    })();
    return () => {
      onUnauthorized.delete(signOut);
    };
  }, []);

  useEffect(() => {
    if (who) startLive();
  }, [who]);

  if (checking) return <p class="muted pad">Loading…</p>;
  if (!who) return <SignIn onDone={setWho} error={error} />;

  const route = hash.replace(/^#/, '') || '/sessions';
  const sessionMatch = /^\/sessions\/([^/]+)$/.exec(route);
  let page = <SessionsPage />;
  if (sessionMatch?.[1]) page = <SessionPage id={decodeURIComponent(sessionMatch[1])} />;
  else if (route.startsWith('/pools')) page = <PoolsPage />;
  else if (route.startsWith('/runners')) page = <RunnersPage />;
  else if (route.startsWith('/tokens')) page = <TokensPage />;
  else if (route.startsWith('/costs')) page = <CostsPage />;
  else if (route.startsWith('/credentials')) page = <CredentialsPage />;

  return (
    <div class="shell">
      <header>
        <a class="brand" href="#/sessions">
          Marionette
        </a>
        <nav aria-label="Main">
          {NAV.map(([href, label]) => (
            <a
              key={href}
              href={href}
              aria-current={
                route.startsWith(href.slice(1)) || (href === '#/sessions' && !!sessionMatch) ? 'page' : undefined
              }
            >
              {label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span class={`dot ${live ? 'up' : ''}`} title={live ? 'live updates connected' : 'live updates reconnecting'}>
            <span class="sr-only">{live ? 'live' : 'offline'}</span>
          </span>
          <span class="muted">
            {who.name} ({who.role})
          </span>
          <label class="sr-only" for="theme">
            Theme
          </label>
          <select id="theme" value={theme} onChange={(e) => setTheme((e.target as HTMLSelectElement).value as Theme)}>
            <option value="system">System theme</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
          <button
            type="button"
            onClick={() => {
              auth.clear();
              stopLive();
              setWho(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main>{page}</main>
    </div>
  );
}
