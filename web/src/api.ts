/**
 * The admin endpoints: init, auth (password → token, kept in localStorage), the legacy API
 * pipeline at /admin/api, and the live channel tail (a fetch-streamed text/event-stream, so
 * the token travels in a header and never in a URL).
 */

const TOKEN_KEY = 'gyre-admin-token';
/** Admin endpoints live next to the page: `<prefix>/admin/...` for a page at `<prefix>/`. */
const base = new URL('.', location.href).pathname.replace(/\/$/, '');

export interface InitInfo {
  insecure: boolean;
  edition: string;
  authenticated: boolean;
}

/** Thrown on 401: the token is missing, wrong or expired. */
export class Unauthorized extends Error {}

export interface ApiError {
  code: number;
  message: string;
}

export type ApiReply<T> = { result: T; error?: undefined } | { result?: undefined; error: ApiError };

function authHeaders(): Record<string, string> {
  const t = localStorage.getItem(TOKEN_KEY);
  return t ? { Authorization: `token ${t}` } : {};
}

export function clearToken(): void {
  localStorage.removeItem(TOKEN_KEY);
}

export async function init(): Promise<InitInfo> {
  const res = await fetch(`${base}/admin/init`, { headers: authHeaders() });
  if (!res.ok) throw new Error(`init: HTTP ${res.status}`);
  return (await res.json()) as InitInfo;
}

/** Exchanges the password for a token; false when the password is wrong. */
export async function login(password: string): Promise<boolean> {
  const res = await fetch(`${base}/admin/auth`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ password }),
  });
  if (res.status === 400) return false;
  if (!res.ok) throw new Error(`auth: HTTP ${res.status}`);
  const { token } = (await res.json()) as { token: string };
  localStorage.setItem(TOKEN_KEY, token);
  return true;
}

/** Runs one server API method through the admin pipeline. */
export async function call<T = any>(method: string, params: object = {}): Promise<ApiReply<T>> {
  const res = await fetch(`${base}/admin/api`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ method, params }),
  });
  if (res.status === 401) throw new Unauthorized('unauthorized');
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`);
  return (await res.json()) as ApiReply<T>;
}

/** One tail event as the server sends it. */
export interface TailEvent {
  type: 'subscribed' | 'publication' | 'join' | 'leave' | 'error';
  channel?: string;
  offset?: number;
  time?: number;
  data?: unknown;
  text?: string;
  base64?: string;
  tags?: Record<string, string>;
  info?: { user?: string; client?: string };
  message?: string;
}

/** Streams a channel's tail until `signal` aborts; rejects on HTTP errors. */
export async function tail(channel: string, onEvent: (e: TailEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${base}/admin/tail?channel=${encodeURIComponent(channel)}`, { headers: authHeaders(), signal });
  if (res.status === 401) throw new Unauthorized('unauthorized');
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    let msg = `HTTP ${res.status}`;
    try {
      msg = (JSON.parse(text) as { error: ApiError }).error.message;
    } catch {
      // Not JSON: keep the status.
    }
    throw new Error(msg);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data !== '') onEvent(JSON.parse(data) as TailEvent);
    }
  }
}
