import './styles.css';
import { ApiError, endSession, errorText, getJson, sessionIdentity, token, whenUnauthorized, type Identity } from './api.js';
import { h, replace } from './dom.js';
import { announce } from './status.js';
import { signInView } from './views/signin.js';
import { overviewView } from './views/overview.js';
import { explorerView } from './views/explorer.js';
import { eventView } from './views/event.js';
import { liveView } from './views/live.js';
import { policyView } from './views/policy.js';
import { exceptionsView } from './views/exceptions.js';
import { revocationsView } from './views/revocations.js';
import { prefetchView } from './views/prefetch.js';
import { notificationsView } from './views/notifications.js';
import type { View } from './views/view.js';

const NAV: Array<{ path: string; label: string }> = [
  { path: '#/', label: 'Overview' },
  { path: '#/events', label: 'Audit events' },
  { path: '#/live', label: 'Live' },
  { path: '#/policy', label: 'Policy' },
  { path: '#/exceptions', label: 'Exceptions' },
  { path: '#/revocations', label: 'Revocations' },
  { path: '#/prefetch', label: 'Prefetch' },
  { path: '#/notifications', label: 'Notifications' },
];

const app = document.getElementById('app')!;
let me: Identity | undefined;
let running: AbortController | undefined;
let signInMessage = takeSignInError();
let rendered = false;
/** Signed in through single sign-on (a session cookie) rather than with a token. */
let viaSso = false;

/** A refused or failed single sign-on comes back as `/ui/?signin_error=…`; shown once, then dropped from the URL. */
function takeSignInError(): string {
  const params = new URLSearchParams(location.search);
  const message = params.get('signin_error');
  if (message === null) return '';
  history.replaceState(null, '', `${location.pathname}${location.hash}`);
  return message;
}

whenUnauthorized((message) => {
  signInMessage = me ? `You were signed out: ${message}` : `Sign-in failed: ${message}`;
  me = undefined;
  void render();
});

function route(): { view: View; path: string; params: URLSearchParams; id?: string } {
  const hash = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path = '/', query = ''] = hash.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  const event = /^\/events\/(\d+)$/.exec(path);
  if (event) return { view: eventView, path, params, id: event[1] };
  if (path === '/events') return { view: explorerView, path, params };
  if (path === '/live') return { view: liveView, path, params };
  if (path === '/policy') return { view: policyView, path, params };
  if (path === '/exceptions') return { view: exceptionsView, path, params };
  if (path === '/revocations') return { view: revocationsView, path, params };
  if (path === '/prefetch') return { view: prefetchView, path, params };
  if (path === '/notifications') return { view: notificationsView, path, params };
  return { view: overviewView, path: '/', params };
}

async function render(): Promise<void> {
  running?.abort();
  running = new AbortController();
  const signal = running.signal;
  if (!me && !token.get()) {
    me = await sessionIdentity();
    viaSso = me !== undefined;
    if (!me) return showSignIn();
  }
  if (!me) {
    try {
      me = await getJson<Identity>('/whoami');
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) signInMessage = errorText(err);
      token.clear();
      return showSignIn();
    }
  }
  // The console reads the audit log and policy: roles that may not would only meet refusals.
  if (me.role !== 'admin' && me.role !== 'auditor') {
    signInMessage = `${viaSso ? 'The account' : 'The token'} of ${me.name} (${me.role}) cannot use the console; sign in with an admin or auditor ${viaSso ? 'account' : 'token'}.`;
    me = undefined;
    token.clear();
    if (viaSso) await endSession();
    viaSso = false;
    return showSignIn();
  }
  const current = route();
  const main = h('main', { id: 'main', tabindex: '-1' });
  // After a navigation the old page is gone; focus goes to the new content, not back to the document start.
  replace(app, header(me, current.path), main);
  if (rendered) main.focus({ preventScroll: true });
  rendered = true;
  try {
    await current.view({ main, params: current.params, id: current.id, me, signal });
  } catch (err) {
    if (signal.aborted) return;
    main.append(h('p', { class: 'error', role: 'alert' }, errorText(err)));
  }
}

function showSignIn(): void {
  const main = h('main', { id: 'main', tabindex: '-1' });
  replace(app, h('header', { class: 'top' }, h('span', { class: 'brand' }, 'Portcullis')), main);
  signInView(main, signInMessage, async () => {
    signInMessage = '';
    me = undefined;
    await render();
    const who = me as Identity | undefined;
    if (who) announce(`Signed in as ${who.name} (${who.role})`);
  });
}

function header(identity: Identity, path: string): HTMLElement {
  const active = (p: string) => (p === '#/' ? path === '/' : path.startsWith(p.slice(1)));
  return h(
    'header',
    { class: 'top' },
    h('span', { class: 'brand' }, 'Portcullis'),
    h(
      'nav',
      { 'aria-label': 'Console' },
      h('ul', {}, NAV.map((n) => h('li', {}, h('a', { href: n.path, 'aria-current': active(n.path) ? 'page' : undefined }, n.label)))),
    ),
    h(
      'div',
      { class: 'who' },
      h('span', { id: 'whoami' }, `Signed in as ${identity.name} (${identity.role})`),
      h('button', { type: 'button', onclick: () => void signOut() }, 'Sign out'),
    ),
  );
}

async function signOut(): Promise<void> {
  token.clear();
  me = undefined;
  signInMessage = 'You signed out.';
  running?.abort();
  if (viaSso) await endSession();
  viaSso = false;
  void render();
}

// The skip link focuses the content without touching the hash (the hash is the console's route).
document.addEventListener('click', (e) => {
  const link = (e.target as Element | null)?.closest?.('a.skip');
  if (!link) return;
  e.preventDefault();
  document.getElementById('main')?.focus();
});

window.addEventListener('hashchange', () => void render());
void render();
