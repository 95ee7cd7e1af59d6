import * as der from './der.js';
import { generateKey, keyId, sha256, type TestKey } from './keys.js';
import { extension, OID } from './x509.js';

/**
 * A test Certificate Transparency log: issues RFC 6962 v1 SCTs over a precertificate, i.e. the
 * leaf TBS without the SCT extension, bound to sha256(issuer SPKI DER).
 */
export interface TestCtLog {
  readonly key: TestKey;
  /** sha256 of the log's DER SPKI (RFC 6962 LogID). */
  readonly logId: Buffer;
  readonly baseUrl: string;
  readonly validFrom: Date;
  /** One serialized SCT (TLS encoding). */
  signSct(precertTbs: Buffer, issuerSpkiDer: Buffer, timestamp: Date): Buffer;
}

export function createTestCtLog(opts: { baseUrl?: string; validFrom?: Date; key?: TestKey } = {}): TestCtLog {
  const key = opts.key ?? generateKey('ecdsa-p256');
  const logId = keyId(key);
  return {
    key,
    logId,
    baseUrl: opts.baseUrl ?? 'https://ctfe.portcullis.test/test',
    validFrom: opts.validFrom ?? new Date(Date.now() - 10 * 365 * 86400_000),
    signSct(precertTbs, issuerSpkiDer, timestamp) {
      const ts = Buffer.alloc(8);
      ts.writeBigUInt64BE(BigInt(timestamp.getTime()));
      const signed = Buffer.concat([
        Buffer.from([0x00, 0x00]), // sct_version v1, signature_type certificate_timestamp
        ts,
        Buffer.from([0x00, 0x01]), // entry_type precert_entry
        sha256(issuerSpkiDer), // issuer_key_hash
        uint(precertTbs.length, 3),
        precertTbs,
        uint(0, 2), // no CT extensions
      ]);
      const sig = key.sign(signed);
      return Buffer.concat([
        Buffer.from([0x00]),
        logId,
        ts,
        uint(0, 2),
        Buffer.from([0x04, 0x03]), // sha256, ecdsa
        uint(sig.length, 2),
        sig,
      ]);
    },
  };
}

function uint(value: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  out.writeUIntBE(value, 0, bytes);
  return out;
}

/** The embedded-SCT extension: OCTET STRING { SignedCertificateTimestampList }. */
export function sctListExtension(scts: Buffer[]): Buffer {
  const items = scts.map((s) => Buffer.concat([uint(s.length, 2), s]));
  const list = Buffer.concat(items);
  return extension(OID.sct, false, der.octetString(Buffer.concat([uint(list.length, 2), list])));
}
