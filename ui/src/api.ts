/**
 * The console's only way to the server: /api/v1 with the token as a bearer. The token lives in this tab's
 * sessionStorage, never in a URL or a cookie; the API decides what each role may do. After single sign-on
 * the browser holds an HttpOnly session cookie instead, and writes echo the session's CSRF token.
 */
const KEY = 'portcullis.token';

export interface Identity {
  name: string;
  role: string;
  person?: { subject: string; issuer: string; name: string };
  csrfToken?: string;
}

/** The CSRF token of the single sign-on session, from /whoami; sent with every write. */
let csrfToken: string | undefined;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }

  /** One readable line: the message and every field error. */
  get text(): string {
    return [this.message, ...this.details].join(' — ');
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (value: string): void => sessionStorage.setItem(KEY, value),
  clear: (): void => sessionStorage.removeItem(KEY),
};

/** Called when the API answers 401: the token is gone or wrong, so the console returns to sign-in. */
let onUnauthorized: (message: string) => void = () => {};
export function whenUnauthorized(handler: (message: string) => void): void {
  onUnauthorized = handler;
}

export async function request(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token.get();
  if (t) headers.set('Authorization', `Bearer ${t}`);
  if (body !== undefined) headers.set('Content-Type', 'application/json');
  if (!t && csrfToken && method !== 'GET' && method !== 'HEAD') headers.set('X-CSRF-Token', csrfToken);
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { ...init, method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `the server could not be reached (${(err as Error).message})`);
  }
  if (res.ok) return res;
  const error = await readError(res);
  if (res.status === 401) {
    token.clear();
    onUnauthorized(error.text);
  }
  throw error;
}

export async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  return (await request('GET', path, undefined, init)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body: unknown, headers?: Record<string, string>): Promise<T> {
  return (await request('POST', path, body, { headers })).json() as Promise<T>;
}

export async function deleteJson<T>(path: string): Promise<T> {
  return (await request('DELETE', path)).json() as Promise<T>;
}

/** API errors are `{error:{code,message}, errors:[{path,message}]}`; older forms `{errors:[{code,message,detail}]}`. */
async function readError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string };
      errors?: Array<{ code?: string; message?: string; path?: string; detail?: unknown }>;
    };
    const details = (body.errors ?? []).map((e) => (e.path ? `${e.path} ${e.message ?? ''}` : (e.message ?? '')) + (e.detail ? ` (${JSON.stringify(e.detail)})` : ''));
    if (body.error) return new ApiError(res.status, body.error.code ?? 'ERROR', body.error.message ?? res.statusText, details);
    const first = body.errors?.[0];
    if (first) return new ApiError(res.status, first.code ?? 'ERROR', first.message ?? res.statusText, details.slice(1));
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(res.status, 'HTTP', `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.status === 403 ? `Not allowed: ${err.text}` : err.text;
  return err instanceof Error ? err.message : String(err);
}

/** The single sign-on provider the server offers, if any, and whether it can be used now. */
export interface SsoProvider {
  name: string;
  loginUrl: string;
  available: boolean;
  reason?: string;
}

export async function ssoProvider(): Promise<SsoProvider | undefined> {
  try {
    const res = await fetch('/auth/console/provider', { credentials: 'same-origin', cache: 'no-store' });
    return res.ok ? ((await res.json()) as SsoProvider) : undefined;
  } catch {
    return undefined;
  }
}

/** Who the session cookie signs in, if there is a live session (a 401 here is not a sign-out). */
export async function sessionIdentity(): Promise<Identity | undefined> {
  try {
    const res = await fetch('/api/v1/whoami', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return undefined;
    const identity = (await res.json()) as Identity;
    csrfToken = identity.csrfToken;
    return identity;
  } catch {
    return undefined;
  }
}

/** Ends the single sign-on session at the server. */
export async function endSession(): Promise<void> {
  const headers: Record<string, string> = csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
  csrfToken = undefined;
  await fetch('/auth/console/logout', { method: 'POST', headers, credentials: 'same-origin', cache: 'no-store' }).catch(() => {});
}
