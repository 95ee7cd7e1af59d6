/**
 * The console's only way to the server: /api/v1 with the token as a bearer. The token lives in this tab's
 * sessionStorage, never in a URL or a cookie; the API decides what each role may do.
 */
const KEY = 'portcullis.token';

export interface Identity {
  name: string;
  role: string;
}

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
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { ...init, method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit', cache: 'no-store' });
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
