/** Boot: init → login or shell; hash routing between views; keyboard-navigable tabs. */
import { clearToken, init, login, Unauthorized } from './api.js';
import { initActions } from './actions.js';
import { initChannels, inspect, loadChannels } from './channels.js';
import { byId } from './dom.js';
import { startStatus, stopStatus } from './status.js';
import { initTail, startTail, stopTail } from './tail.js';

const VIEWS = ['status', 'actions', 'channels', 'tail'] as const;
type View = (typeof VIEWS)[number];
let insecure = false;

function onAuthError(err: unknown): void {
  if (err instanceof Unauthorized && !insecure) showLogin('Your session has expired. Please sign in again.');
}

function showLogin(message = ''): void {
  stopStatus();
  stopTail();
  clearToken();
  byId('shell').hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = message;
  byId<HTMLInputElement>('password').focus();
}

function showShell(): void {
  byId('login').hidden = true;
  byId('shell').hidden = false;
  byId('logout').hidden = insecure;
  byId('insecure-note').hidden = !insecure;
  startStatus(onAuthError);
  route();
}

function tabs(): HTMLAnchorElement[] {
  return VIEWS.map((v) => byId<HTMLAnchorElement>(`tab-${v}`));
}

/** Shows the view named by the URL hash (default: status). */
function route(): void {
  const [name, arg] = location.hash.replace(/^#/, '').split('/') as [string, string | undefined];
  const view: View = (VIEWS as readonly string[]).includes(name) ? (name as View) : 'status';
  for (const v of VIEWS) {
    const selected = v === view;
    byId(`view-${v}`).hidden = !selected;
    const tab = byId(`tab-${v}`);
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  const ch = arg ? decodeURIComponent(arg) : '';
  if (view === 'channels') {
    void loadChannels();
    if (ch) void inspect(ch);
  }
  if (view === 'tail' && ch) startTail(ch, onAuthError);
}

/** Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern, automatic activation). */
function tabKeys(e: KeyboardEvent): void {
  const all = tabs();
  const i = all.indexOf(e.target as HTMLAnchorElement);
  if (i < 0) return;
  let next = -1;
  if (e.key === 'ArrowRight') next = (i + 1) % all.length;
  else if (e.key === 'ArrowLeft') next = (i - 1 + all.length) % all.length;
  else if (e.key === 'Home') next = 0;
  else if (e.key === 'End') next = all.length - 1;
  if (next < 0) return;
  e.preventDefault();
  all[next]?.focus();
  all[next]?.click();
}

async function boot(): Promise<void> {
  byId<HTMLFormElement>('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = byId<HTMLInputElement>('password');
    const button = byId<HTMLButtonElement>('login-submit');
    button.disabled = true;
    login(input.value)
      .then((ok) => {
        if (ok) {
          input.value = '';
          showShell();
        } else {
          byId('login-error').textContent = 'Wrong password.';
          input.select();
        }
      })
      .catch((err: unknown) => (byId('login-error').textContent = (err as Error).message))
      .finally(() => (button.disabled = false));
  });
  byId('logout').addEventListener('click', () => showLogin());
  byId('tablist').addEventListener('keydown', tabKeys);
  window.addEventListener('hashchange', route);
  initActions(onAuthError);
  initChannels({ onAuthError, tail: (ch) => (location.hash = `#tail/${encodeURIComponent(ch)}`) });
  initTail(onAuthError);
  const info = await init();
  insecure = info.insecure;
  if (info.authenticated) showShell();
  else showLogin();
}

boot().catch((err: unknown) => {
  byId('boot-error').hidden = false;
  byId('boot-error').textContent = `Cannot reach the server: ${(err as Error).message}`;
});
