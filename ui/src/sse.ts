import { request } from './api.js';

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a server-sent event stream with fetch, since EventSource cannot send the Authorization header.
 * Resolves when the stream ends; rejects on an API error; stops quietly when `signal` aborts.
 */
export async function readSse(path: string, lastEventId: string | undefined, signal: AbortSignal, onMessage: (m: SseMessage) => void, onOpen?: () => void): Promise<void> {
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  const res = await request('GET', path, undefined, { headers, signal });
  if (!res.body) return;
  onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let current: Partial<SseMessage> & { data?: string } = {};
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let nl: number;
      while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (current.data !== undefined) onMessage({ id: current.id, event: current.event ?? 'message', data: current.data });
          current = {};
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'data') current.data = current.data === undefined ? val : `${current.data}\n${val}`;
        else if (name === 'id') current.id = val;
        else if (name === 'event') current.event = val;
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  } finally {
    reader.cancel().catch(() => {});
  }
}
