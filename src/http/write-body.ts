import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { isRecycling } from '../store/file-chunk-stream.js';

export interface Written {
  /** Bytes handed to the socket. */
  sent: number;
  /** The client closed the connection before the response finished. */
  clientLeft: boolean;
  /** The body failed after headers were sent: the caller breaks the connection, the only honest signal left. */
  error?: unknown;
}

/**
 * Writes a body to the response with back-pressure and ends it; a body that fails is reported, not thrown. A chunk of a recycling body goes back
 * for reuse when its write completes. Unlike `pipeline`, which allocates an AbortController and an
 * AbortError for every response, it costs a promise per chunk and nothing per request.
 */
export async function writeBody(body: Readable, res: ServerResponse, first: Buffer | null): Promise<Written> {
  const recycle = isRecycling(body) ? (chunk: Buffer) => () => body.recycle(chunk) : undefined;
  let sent = 0;
  let clientLeft = false;
  const onClose = () => {
    if (res.writableFinished) return;
    clientLeft = true;
    body.destroy();
  };
  res.once('close', onClose);
  const write = (chunk: Buffer): boolean => {
    sent += chunk.length;
    return res.write(chunk, recycle?.(chunk));
  };
  try {
    if (first) write(first);
    for await (const chunk of body as AsyncIterable<Buffer>) {
      // Asked now, not when the last write returned: 'drain' may have come while the next chunk was read.
      if (res.writableNeedDrain) await drained(res);
      if (clientLeft) break;
      write(chunk);
    }
    // 'finish' never comes for a connection that closes first, so 'close' ends the wait too.
    if (!clientLeft) await new Promise<void>((resolve) => {
      res.once('close', () => resolve());
      res.end(() => resolve());
    });
  } catch (err) {
    if (!clientLeft) return { sent, clientLeft, error: err };
  } finally {
    res.off('close', onClose);
  }
  return { sent, clientLeft };
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
