import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Groups what the body has buffered into one batch per disk write: a fast upstream fills big batches while
 * the previous write runs, a slow one still gets every chunk written as soon as it arrives.
 */
export async function* batches(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer[]> {
  const stream = body as Partial<Readable> & AsyncIterable<Buffer>;
  if (typeof stream.read !== 'function' || typeof stream.once !== 'function') {
    for await (const chunk of body) yield [chunk];
    return;
  }
  const readable = stream as Readable;
  for (;;) {
    const chunks: Buffer[] = [];
    let size = 0;
    let chunk: Buffer | null;
    while (size < BATCH_BYTES && (chunk = readable.read() as Buffer | null) !== null) {
      chunks.push(chunk);
      size += chunk.length;
    }
    if (chunks.length > 0) {
      yield chunks;
      continue;
    }
    if (readable.readableEnded) return;
    if (readable.errored) throw readable.errored;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        readable.off('readable', done);
        readable.off('end', done);
        readable.off('error', fail);
        readable.off('close', done);
        resolve();
      };
      const fail = (err: Error) => {
        done();
        reject(err);
      };
      readable.once('readable', done);
      readable.once('end', done);
      readable.once('close', done);
      readable.once('error', fail);
    });
    if (readable.destroyed && !readable.readableEnded) {
      throw readable.errored ?? new Error('upstream body closed before its end');
    }
  }
}

export async function writeAll(fh: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let pending = chunks;
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await fh.writev(pending, at);
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const c of pending) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    pending = rest;
  }
}
