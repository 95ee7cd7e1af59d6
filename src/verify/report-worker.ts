import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { parseEnvelope } from './att-layer.js';
import { splitBundle } from './bundle-payload.js';
import { updateWithPae } from './dsse-pae.js';
import { parseStatement, reportFacts } from './statement.js';
import { toReason } from './verify-error.js';

/**
 * Reads one large DSSE envelope (a `.att` layer) or Sigstore bundle (a referrer) in a worker thread: its
 * base64 payload, the in-toto statement and the scan or VEX report it holds. The report is reduced here, so
 * the event loop never parses it and only the payload (for the signature check) and the compact facts come back.
 */
const { kind, blob, subjectHex } = workerData as { kind: 'envelope' | 'bundle'; blob: Uint8Array; subjectHex: string };
try {
  const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const expected = { digests: { sha256: subjectHex } };
  if (kind === 'bundle') {
    const { json, payload: decoded } = splitBundle(bytes);
    const st = parseStatement(String(json.dsseEnvelope.payloadType), decoded, expected);
    const payload = owned(decoded);
    const statement = { type: st.type, predicateType: st.predicateType, subjects: st.subjects, ...reportFacts(st) };
    const payloadHex = createHash('sha256').update(payload).digest('hex');
    // The digest of what the signature signs (DSSE's pre-authentication encoding), so the event loop need not hash it.
    const paeHex = updateWithPae(createHash('sha256'), String(json.dsseEnvelope.payloadType), payload).digest('hex');
    parentPort!.postMessage({ ok: { json, payload, statement, payloadHex, paeHex, bundleBytes: bytes.length } }, [payload.buffer as ArrayBuffer]);
  } else {
    const blobHex = createHash('sha256').update(bytes).digest('hex');
    const env = parseEnvelope(bytes);
    const st = parseStatement(env.payloadType, env.payload, expected);
    const { payload: _, ...json } = env.json;
    const payload = owned(env.payload);
    const statement = { type: st.type, predicateType: st.predicateType, subjects: st.subjects, ...reportFacts(st) };
    const signatures = env.signatures.map((s) => s.toString('base64'));
    const payloadHex = createHash('sha256').update(payload).digest('hex');
    parentPort!.postMessage({ ok: { payloadType: env.payloadType, payload, signatures, json, statement, blobHex, payloadHex } }, [payload.buffer as ArrayBuffer]);
  }
} catch (err) {
  parentPort!.postMessage({ error: toReason(err) });
}

/** Bytes in an ArrayBuffer of their own, so they can be handed to the event loop rather than copied there. */
function owned(b: Buffer): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b;
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
}
