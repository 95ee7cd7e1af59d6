import { request, type Dispatcher } from 'undici';

export type SendResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/** What a receiver may answer with that is read (and dropped): enough for an error page, not a flood. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs one delivery ('stopped' when `stop` ended it first). Everything, connection to the end of the answer, fits in `timeoutMs`; a redirect is a
 * failure (it is not followed: the signed event goes only where it was configured to). Errors say what
 * happened without the URL, which may hold a token.
 */
export async function post(
  dispatcher: Dispatcher,
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  stop: AbortSignal,
): Promise<SendResult | 'stopped'> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([timeout, stop]);
  try {
    const res = await request(url, {
      method: 'POST', body, headers, dispatcher, signal, maxRedirections: 0,
      headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
    });
    await res.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => {});
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { ok: true, status };
    if (status >= 300 && status < 400) return { ok: false, status, error: `answered ${status}, a redirect, which is not followed` };
    return { ok: false, status, error: `answered ${status}` };
  } catch (err) {
    if (stop.aborted) return 'stopped';
    if (timeout.aborted) return { ok: false, status: null, error: `no answer within ${timeoutMs} ms` };
    const e = err as { code?: string; message?: string };
    return { ok: false, status: null, error: e.code ? `${e.code}: ${e.message ?? ''}`.trim() : String(e.message ?? err) };
  }
}
