import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';

export class TrustMaterialError extends Error {
  override readonly name = 'TrustMaterialError';
}

/**
 * One trusted root as sigstore-js uses it, with what it lists, because that decides what a signature needs
 * (as in sigstore-go and `gh attestation verify`): no CT logs, no SCT required; no transparency logs, a
 * verified RFC 3161 timestamp from one of its timestamp authorities required instead of a log entry.
 */
export interface RootInstance {
  material: TrustMaterial;
  hasTlogs: boolean;
  hasCtlogs: boolean;
}

const ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\.v0\.\d+)?\+json(;version=0\.\d+)?$/;

/**
 * A `trusted_root.json`, or JSON Lines with one root per line (what `gh attestation trusted-root` writes:
 * the public-good root and GitHub's). Every line is trusted; each is checked on its own.
 */
export function parseRootFile(bytes: Buffer, label: string): RootInstance[] {
  const text = bytes.toString('utf8');
  let docs: unknown[];
  try {
    docs = [JSON.parse(text)];
  } catch {
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    if (lines.length < 2) throw new TrustMaterialError(`${label} is not valid JSON`);
    docs = lines.map((line, i) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new TrustMaterialError(`${label} line ${i + 1} is not valid JSON`);
      }
    });
  }
  return docs.map((doc, i) => rootInstance(doc, docs.length > 1 ? `${label} line ${i + 1}` : label));
}

/** Parses and checks one trusted_root.json. */
export function parseTrustedRoot(bytes: Buffer, label = 'trusted root'): TrustMaterial {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TrustMaterialError(`${label} is not valid JSON`);
  }
  return rootInstance(json, label).material;
}

/**
 * sigstore-js (4.x as 3.x) treats a missing validity start as "since the epoch", which would trust a log or CA for
 * signatures made before it existed, so every authority must state it.
 */
function rootInstance(doc: unknown, label: string): RootInstance {
  const json = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  if (typeof json.mediaType !== 'string' || !ROOT_MEDIA_TYPE.test(json.mediaType)) {
    throw new TrustMaterialError(`${label}: unsupported mediaType ${JSON.stringify(json.mediaType)}`);
  }
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(json);
  } catch (err) {
    throw new TrustMaterialError(`${label}: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  root.tlogs.forEach((t, i) => {
    if (!t.publicKey?.rawBytes?.length) problems.push(`tlogs[${i}] has no public key`);
    else if (!t.publicKey.validFor?.start) problems.push(`tlogs[${i}].publicKey.validFor.start is missing`);
    if (!t.logId?.keyId?.length) problems.push(`tlogs[${i}] has no logId`);
  });
  root.ctlogs.forEach((t, i) => {
    if (!t.publicKey?.rawBytes?.length) problems.push(`ctlogs[${i}] has no public key`);
    else if (!t.publicKey.validFor?.start) problems.push(`ctlogs[${i}].publicKey.validFor.start is missing`);
  });
  root.certificateAuthorities.forEach((ca, i) => {
    if (!ca.certChain?.certificates.length) problems.push(`certificateAuthorities[${i}] has no certificates`);
    if (!ca.validFor?.start) problems.push(`certificateAuthorities[${i}].validFor.start is missing`);
  });
  root.timestampAuthorities.forEach((ca, i) => {
    if (!ca.certChain?.certificates.length) problems.push(`timestampAuthorities[${i}] has no certificates`);
    if (!ca.validFor?.start) problems.push(`timestampAuthorities[${i}].validFor.start is missing`);
  });
  if (root.tlogs.length + root.certificateAuthorities.length + root.timestampAuthorities.length === 0) {
    problems.push('no transparency logs, certificate authorities or timestamp authorities');
  } else if (root.certificateAuthorities.length > 0 && root.tlogs.length + root.timestampAuthorities.length === 0) {
    // Short-lived certificates need a verified time; this root could never give one.
    problems.push('certificate authorities without transparency logs or timestamp authorities');
  }
  if (problems.length) throw new TrustMaterialError(`${label}: ${problems.join('; ')}`);
  try {
    const material = toTrustMaterial(root, () => {
      throw new TrustMaterialError('no key selected');
    });
    return { material, hasTlogs: root.tlogs.length > 0, hasCtlogs: root.ctlogs.length > 0 };
  } catch (err) {
    throw new TrustMaterialError(`${label}: ${(err as Error).message}`);
  }
}
