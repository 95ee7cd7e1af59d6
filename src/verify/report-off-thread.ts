import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { OffThreadRead } from './att-layer.js';
import type { OffThreadBundle } from './bundle-payload.js';
import { VerifyFailure, type RejectCode } from './verify-error.js';

/** Envelopes up to this size are read on the event loop (a few milliseconds); larger ones in a worker. */
export const INLINE_ENVELOPE_BYTES = 1024 * 1024;
/** A worker reading one report gets this long and this much heap, so a hostile report costs a bounded amount. */
const WORKER_DEADLINE_MS = 60_000;
const WORKER_HEAP_MB = 1024;
/** Reports read at once in this process; more wait their turn, so the heaps of readers are bounded in number too. */
const MAX_READERS = 2;
let readers = 0;
const waiting: Array<() => void> = [];

/**
 * Reads a large DSSE envelope and the scan or VEX report inside it in a worker thread (report-worker.ts):
 * parsing tens of megabytes of JSON on the event loop would stall every other request. The blob is handed
 * over: it is empty here afterwards.
 */
export async function readEnvelopeOffThread(blob: Buffer, subjectHex: string): Promise<OffThreadRead> {
  const ok = await readOffThread('envelope', blob, subjectHex);
  return {
    env: { payloadType: ok.payloadType, payload: asBuffer(ok.payload), signatures: (ok.signatures as string[]).map((s) => Buffer.from(s, 'base64')), json: ok.json },
    statement: { ...ok.statement, predicate: undefined },
    blobHex: ok.blobHex,
    payloadHex: ok.payloadHex,
  };
}

/** The same for a large Sigstore bundle (a referrer): its payload comes back as bytes, the rest of it as JSON. */
export async function readBundleOffThread(blob: Buffer, subjectHex: string): Promise<OffThreadBundle> {
  const ok = await readOffThread('bundle', blob, subjectHex);
  return { json: ok.json, payload: asBuffer(ok.payload), statement: { ...ok.statement, predicate: undefined }, payloadHex: ok.payloadHex, paeHex: ok.paeHex, bundleBytes: ok.bundleBytes };
}

async function readOffThread(kind: 'envelope' | 'bundle', blob: Buffer, subjectHex: string): Promise<any> {
  if (readers < MAX_READERS) readers++;
  else await new Promise<void>((resume) => waiting.push(resume));
  try {
    return await runReader(kind, blob, subjectHex);
  } finally {
    // The turn passes straight to the next in line, so a newcomer cannot slip in between.
    const next = waiting.shift();
    if (next) next();
    else readers--;
  }
}

function runReader(kind: 'envelope' | 'bundle', blob: Buffer, subjectHex: string): Promise<any> {
  return new Promise((resolve, reject) => {
    let settled = false;
    // The bytes move to the worker rather than being copied (a copy of tens of megabytes stalls the loop too).
    const owned = blob.byteOffset === 0 && blob.byteLength === blob.buffer.byteLength ? blob : new Uint8Array(blob);
    const worker = new Worker(workerFile(), {
      workerData: { kind, blob: owned, subjectHex },
      transferList: [owned.buffer as ArrayBuffer],
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(() => finish(() => reject(new VerifyFailure('TOO_LARGE', `reading the report took over ${WORKER_DEADLINE_MS / 1000}s`))), WORKER_DEADLINE_MS);
    worker.once('message', (msg: { ok?: any; error?: string }) => finish(() => (msg.error !== undefined ? reject(asFailure(msg.error)) : resolve(msg.ok))));
    worker.once('error', (err) => finish(() => reject(new VerifyFailure(/heap|memory/i.test(err.message) ? 'TOO_LARGE' : 'MALFORMED', `the report could not be read: ${err.message}`))));
    worker.once('exit', (code) => finish(() => reject(new VerifyFailure('INTERNAL', `the report reader exited (${code})`))));
  });
}

const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function asFailure(reason: string): VerifyFailure {
  const at = reason.indexOf(': ');
  return new VerifyFailure((at > 0 ? reason.slice(0, at) : 'INTERNAL') as RejectCode, at > 0 ? reason.slice(at + 2) : reason);
}

/** The compiled worker beside this module; run from sources (tests), the build's copy. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const file = here.endsWith('.ts') ? fileURLToPath(new URL('../../dist/verify/report-worker.js', import.meta.url)) : here.replace(/report-off-thread\.js$/, 'report-worker.js');
  if (!existsSync(file)) throw new VerifyFailure('INTERNAL', `the report reader ${file} is missing (run the build)`);
  return file;
}
