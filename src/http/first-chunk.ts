import type { Readable } from 'node:stream';

/**
 * Waits for a body's first chunk (null when it ends empty) and pauses it there. Node sends a response's
 * headers with its first byte, so a body that fails before then can still be answered with an honest error
 * instead of a connection closed without any answer; once bytes are out, only a broken connection is left.
 */
export function firstChunk(body: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const settle = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      settle();
      body.pause();
      resolve(chunk);
    };
    const onEnd = () => {
      settle();
      resolve(null);
    };
    const onError = (err: Error) => {
      settle();
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}
