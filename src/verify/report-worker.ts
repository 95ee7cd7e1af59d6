import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { parseEnvelope } from './att-layer.js';
import { parseStatement, reportFacts } from './statement.js';
import { toReason } from './verify-error.js';

/**
 * Reads one large DSSE envelope in a worker thread: the envelope, its base64 payload, the in-toto statement
 * and the scan or VEX report it holds. The report is reduced here, so the event loop never parses it and only
 * the payload (for the signature check) and the compact facts come back.
 */
const { blob, subjectHex } = workerData as { blob: Uint8Array; subjectHex: string };
try {
  const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const blobHex = createHash('sha256').update(bytes).digest('hex');
  const env = parseEnvelope(bytes);
  const st = parseStatement(env.payloadType, env.payload, { digests: { sha256: subjectHex } });
  const { report, reportError } = reportFacts(st);
  const { payload: _, ...json } = env.json;
  const payload = new Uint8Array(env.payload.byteLength);
  payload.set(env.payload);
  const statement = { type: st.type, predicateType: st.predicateType, subjects: st.subjects, report, reportError };
  const signatures = env.signatures.map((s) => s.toString('base64'));
  const payloadHex = createHash('sha256').update(payload).digest('hex');
  parentPort!.postMessage({ ok: { payloadType: env.payloadType, payload, signatures, json, statement, blobHex, payloadHex } }, [payload.buffer]);
} catch (err) {
  parentPort!.postMessage({ error: toReason(err) });
}
