/** A hash or a signature verifier: whatever takes the signed bytes piece by piece. */
interface Sink<T> {
  update(data: string | NodeJS.ArrayBufferView): T;
}

/**
 * Feeds DSSE's pre-authentication encoding (`DSSEv1 <len> <type> <len> <payload>`, what an envelope's
 * signature signs) to `sink` in pieces, so a payload of tens of megabytes is never copied into one buffer
 * (dsse.preAuthEncoding would copy it).
 */
export function updateWithPae<T extends Sink<T>>(sink: T, payloadType: string, payload: NodeJS.ArrayBufferView): T {
  const type = Buffer.from(payloadType, 'utf8');
  return sink.update(`DSSEv1 ${type.length} `).update(type).update(` ${payload.byteLength} `).update(payload);
}
