import type { KeyObject } from 'node:crypto';
import { RFC3161Timestamp } from '@sigstore/core';
import { certIdentity, pemToDers, type CertIdentity } from './certificate-identity.js';
import { parseRekorBundle, type RekorBundle } from './rekor-bundle.js';
import type { TrustRoot } from './trust-material.js';
import type { NotationTrust } from './notation/trust-store.js';
import { VerifyFailure } from './verify-error.js';

/** Layer annotations cosign writes on `.sig` / `.att` layers (keys as in cosign's code, not its spec prose). */
export const ANN = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  rfc3161: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;

export interface LegacyMaterial {
  cert?: { der: Buffer; identity: CertIdentity };
  rekor?: RekorBundle;
  /** Base64 DER TimeStampResp from the rfc3161timestamp annotation. */
  rfc3161?: string;
}

export interface VerifyContext {
  /** Every configured root, the default first: keyless signatures are checked under each. */
  roots: readonly TrustRoot[];
  keys: ReadonlyMap<string, KeyObject>;
  now: Date;
  /** Notation trust stores; without them Notation signatures are not looked at. */
  notation?: NotationTrust;
}

export function readLegacyMaterial(annotations: Record<string, string>): LegacyMaterial {
  const out: LegacyMaterial = {};
  const certPem = annotations[ANN.certificate];
  if (certPem) {
    const der = pemToDers(certPem)[0];
    if (!der) throw new VerifyFailure('MALFORMED', 'certificate annotation holds no PEM certificate');
    out.cert = { der, identity: certIdentity(der) };
  }
  if (annotations[ANN.bundle]) out.rekor = parseRekorBundle(annotations[ANN.bundle]!);
  const tsa = annotations[ANN.rfc3161];
  if (tsa) {
    try {
      const ts = JSON.parse(tsa)?.SignedRFC3161Timestamp;
      if (typeof ts !== 'string') throw new Error('missing SignedRFC3161Timestamp');
      out.rfc3161 = ts;
    } catch (err) {
      throw new VerifyFailure('MALFORMED', `rfc3161timestamp annotation: ${(err as Error).message}`);
    }
  }
  return out;
}

/** The signing time from a TimeStampResp, once sigstore-js has verified it. */
export function tsaTime(b64: string): string | undefined {
  try {
    return RFC3161Timestamp.parse(Buffer.from(b64, 'base64')).signingTime.toISOString();
  } catch {
    return undefined;
  }
}
