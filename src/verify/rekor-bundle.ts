import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { json as canonicalJson } from '@sigstore/core';
import type { TrustMaterial } from '@sigstore/verify';
import type { TlogEvidence } from './types.js';
import { sameKey } from './key-signature.js';
import { VerifyFailure } from './verify-error.js';

/** cosign's `dev.sigstore.cosign/bundle` annotation: a Rekor entry plus its signed entry timestamp. */
export interface RekorBundle {
  set: Buffer;
  body: string;
  integratedTime: number;
  logIndex: number;
  logId: string;
  /** The decoded Rekor entry. */
  entry: { kind: string; apiVersion: string; spec: Record<string, any> };
}

const CLOCK_SKEW_S = 300;

export function parseRekorBundle(annotation: string): RekorBundle {
  let doc: any;
  try {
    doc = JSON.parse(annotation);
  } catch {
    throw new VerifyFailure('MALFORMED', 'Rekor bundle annotation is not JSON');
  }
  const p = doc?.Payload;
  if (
    typeof doc?.SignedEntryTimestamp !== 'string' ||
    typeof p?.body !== 'string' ||
    !Number.isSafeInteger(p.integratedTime) ||
    !Number.isSafeInteger(p.logIndex) ||
    typeof p.logID !== 'string' ||
    !/^[0-9a-f]{64}$/.test(p.logID)
  ) {
    throw new VerifyFailure('MALFORMED', 'Rekor bundle annotation lacks SignedEntryTimestamp or Payload fields');
  }
  let entry: any;
  try {
    entry = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8'));
  } catch {
    throw new VerifyFailure('MALFORMED', 'Rekor entry body is not base64 JSON');
  }
  if (typeof entry?.kind !== 'string' || typeof entry?.apiVersion !== 'string' || typeof entry?.spec !== 'object' || !entry.spec) {
    throw new VerifyFailure('MALFORMED', 'Rekor entry body lacks kind/apiVersion/spec');
  }
  return {
    set: Buffer.from(doc.SignedEntryTimestamp, 'base64'),
    body: p.body,
    integratedTime: p.integratedTime,
    logIndex: p.logIndex,
    logId: p.logID,
    entry,
  };
}

/** The same entry as a v0.1 Sigstore bundle `tlogEntries[]` item (JSON form), for sigstore-js. */
export function toTlogEntryJson(rb: RekorBundle): Record<string, unknown> {
  return {
    logIndex: String(rb.logIndex),
    logId: { keyId: Buffer.from(rb.logId, 'hex').toString('base64') },
    kindVersion: { kind: rb.entry.kind, version: rb.entry.apiVersion },
    integratedTime: String(rb.integratedTime),
    inclusionPromise: { signedEntryTimestamp: rb.set.toString('base64') },
    canonicalizedBody: rb.body,
  };
}

/**
 * Verifies the SET against the trusted root's logs (the log must have been valid at integratedTime).
 * Used where sigstore-js cannot: key signatures checked by us, and intoto 0.0.1 entries.
 */
export function verifySet(rb: RekorBundle, material: TrustMaterial, now: Date): TlogEvidence {
  const when = new Date(rb.integratedTime * 1000);
  if (rb.integratedTime * 1000 > now.getTime() + CLOCK_SKEW_S * 1000) {
    throw new VerifyFailure('UNTRUSTED_TLOG', `integratedTime ${when.toISOString()} is in the future`);
  }
  const logId = Buffer.from(rb.logId, 'hex');
  const logs = material.tlogs.filter((t) => t.logID.equals(logId));
  if (logs.length === 0) throw new VerifyFailure('UNTRUSTED_TLOG', `log ${rb.logId.slice(0, 16)}… is not in the trusted root`);
  const valid = logs.filter((t) => t.validFor.start <= when && when <= t.validFor.end);
  if (valid.length === 0) throw new VerifyFailure('UNTRUSTED_TLOG', `log key was not valid at ${when.toISOString()}`);
  const payload = Buffer.from(
    canonicalJson.canonicalize({ body: rb.body, integratedTime: rb.integratedTime, logIndex: rb.logIndex, logID: rb.logId }),
    'utf8',
  );
  const ok = valid.some((t) => {
    try {
      const alg = t.publicKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
      return cryptoVerify(alg, payload, t.publicKey, rb.set);
    } catch {
      return false;
    }
  });
  if (!ok) throw new VerifyFailure('UNTRUSTED_TLOG', 'signed entry timestamp does not verify with the trusted log key');
  return tlogEvidence(rb);
}

export function tlogEvidence(rb: RekorBundle): TlogEvidence {
  return { logIndex: rb.logIndex, integratedTime: new Date(rb.integratedTime * 1000).toISOString(), logId: rb.logId };
}

/** The key or certificate the Rekor entry names must be the one that signed (cosign's comparePublicKey). */
export function checkEntryKey(rb: RekorBundle, signer: KeyObject): void {
  const s = rb.entry.spec;
  const candidates: unknown[] = [];
  if (rb.entry.kind === 'hashedrekord' || rb.entry.kind === 'rekord') candidates.push(s.signature?.publicKey?.content);
  else if (rb.entry.kind === 'intoto') candidates.push(s.content?.publicKey ?? s.publicKey);
  else if (rb.entry.kind === 'dsse') for (const sig of s.signatures ?? []) candidates.push(sig?.verifier);
  for (const c of candidates) {
    if (typeof c !== 'string') continue;
    try {
      if (sameKey(createPublicKey(Buffer.from(c, 'base64').toString('utf8')), signer)) return;
    } catch {
      // not a PEM key or certificate; keep looking
    }
  }
  throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the Rekor entry names a different key or certificate');
}

/**
 * hashedrekord 0.0.1 for a key signature: signature and payload hash must be the ones we verified. The hash
 * is sha256, or sha384/sha512 where cosign logs those (Ed25519ph signatures are logged with sha512).
 */
export function checkHashedRekord(rb: RekorBundle, signature: Buffer, payload: Buffer): void {
  if (rb.entry.kind !== 'hashedrekord' || rb.entry.apiVersion !== '0.0.1') {
    throw new VerifyFailure('UNSUPPORTED', `Rekor entry kind ${rb.entry.kind} ${rb.entry.apiVersion} for an image signature`);
  }
  const s = rb.entry.spec;
  if (!Buffer.from(String(s.signature?.content ?? ''), 'base64').equals(signature)) {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the Rekor entry holds a different signature');
  }
  const algorithm = s.data?.hash?.algorithm;
  if (algorithm !== 'sha256' && algorithm !== 'sha384' && algorithm !== 'sha512') {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', `the Rekor entry uses an unknown hash algorithm ${String(algorithm)}`);
  }
  if (s.data!.hash!.value !== createHash(algorithm).update(payload).digest('hex')) {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the Rekor entry holds a different payload hash');
  }
}

/** intoto 0.0.1 (cosign ≤ 2.1.1 attestations), unsupported by sigstore-js: hashes must match the layer. */
export function checkIntoto001(rb: RekorBundle, envelopeSha256Hex: string, payloadSha256Hex: string): void {
  const c = rb.entry.spec.content;
  if (c?.hash?.value !== envelopeSha256Hex) {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the intoto Rekor entry hashes a different envelope');
  }
  if (c?.payloadHash?.value !== payloadSha256Hex) {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the intoto Rekor entry hashes a different payload');
  }
}

/**
 * dsse 0.0.1: the entry logs this envelope's signatures (as many as the envelope has: one, or each of a
 * co-signed envelope's), the one we verified among them, over this payload.
 */
export function checkDsse001(rb: RekorBundle, signature: Buffer, payloadSha256Hex: string, signatureCount = 1): void {
  const s = rb.entry.spec;
  const sigs: unknown[] = Array.isArray(s.signatures) ? s.signatures : [];
  const logged = (e: unknown) => Buffer.from(String((e as { signature?: unknown } | null)?.signature ?? ''), 'base64');
  if (sigs.length !== signatureCount || !sigs.some((e) => logged(e).equals(signature))) {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the dsse Rekor entry holds a different signature');
  }
  if (s.payloadHash?.value !== payloadSha256Hex) {
    throw new VerifyFailure('TLOG_BODY_MISMATCH', 'the dsse Rekor entry hashes a different payload');
  }
}
