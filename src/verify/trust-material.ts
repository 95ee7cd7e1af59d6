import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';
import type { TrustConfig } from '../config/types.js';

/** Trust material loaded once at start: the Sigstore trusted root plus the operator's named keys. */
export interface LoadedTrust {
  /** Trust material for sigstore-js; `publicKey` is replaced per verification. */
  material: TrustMaterial;
  keys: ReadonlyMap<string, KeyObject>;
  fingerprint: string;
}

export class TrustMaterialError extends Error {
  override readonly name = 'TrustMaterialError';
}

const ROOT_MEDIA_TYPE = /^application\/vnd\.dev\.sigstore\.trustedroot(\.v0\.\d+)?\+json(;version=0\.\d+)?$/;
const SEEDS_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';

export function loadTrust(config: TrustConfig, rootBytes: Buffer = readRootBytes(config.trustedRoot)): LoadedTrust {
  const material = parseTrustedRoot(rootBytes, config.trustedRoot);
  const keys = new Map<string, KeyObject>();
  const keyPrints: string[] = [];
  for (const name of Object.keys(config.keys).sort()) {
    const key = parseKey(name, config.keys[name]!);
    keys.set(name, key);
    keyPrints.push(`${name}=${key.export({ type: 'spki', format: 'der' }).toString('base64')}`);
  }
  const fingerprint = createHash('sha256')
    .update(createHash('sha256').update(rootBytes).digest('hex'))
    .update('\n')
    .update(keyPrints.join('\n'))
    .digest('hex');
  return { material, keys, fingerprint };
}

/** "public-good" is the copy embedded in @sigstore/tuf's seeds.json: shipped with the code, never fetched. */
function readRootBytes(source: string): Buffer {
  if (source === 'public-good') {
    const require = createRequire(import.meta.url);
    const seedsPath = require.resolve('@sigstore/tuf/seeds.json');
    const seeds = JSON.parse(readFileSync(seedsPath, 'utf8')) as Record<string, { targets?: Record<string, string> }>;
    const encoded = seeds[SEEDS_MIRROR]?.targets?.['trusted_root.json'];
    if (!encoded) throw new TrustMaterialError(`${seedsPath} has no embedded trusted_root.json`);
    return Buffer.from(encoded, 'base64');
  }
  if (!isAbsolute(source)) throw new TrustMaterialError(`trust.trustedRoot must be "public-good" or an absolute path, got "${source}"`);
  try {
    return readFileSync(source);
  } catch (err) {
    throw new TrustMaterialError(`cannot read trusted root ${source}: ${(err as Error).message}`);
  }
}

/**
 * Parses and checks a trusted_root.json. sigstore-js treats a missing validity start as "since the epoch",
 * which would trust a log or CA for signatures made before it existed, so every authority must state it.
 */
export function parseTrustedRoot(bytes: Buffer, label = 'trusted root'): TrustMaterial {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new TrustMaterialError(`${label} is not valid JSON`);
  }
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
  }
  if (problems.length) throw new TrustMaterialError(`${label}: ${problems.join('; ')}`);
  try {
    return toTrustMaterial(root, () => {
      throw new TrustMaterialError('no key selected');
    });
  } catch (err) {
    throw new TrustMaterialError(`${label}: ${(err as Error).message}`);
  }
}

function parseKey(name: string, pem: string): KeyObject {
  if (!name.trim()) throw new TrustMaterialError('trust.keys has an empty key name');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new TrustMaterialError(`trust.keys.${name} is not a PEM public key: ${(err as Error).message}`);
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(curve ?? '')) {
      throw new TrustMaterialError(`trust.keys.${name}: unsupported EC curve ${curve}`);
    }
  } else if (type === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new TrustMaterialError(`trust.keys.${name}: RSA key shorter than 2048 bits`);
  } else if (type !== 'ed25519') {
    throw new TrustMaterialError(`trust.keys.${name}: unsupported key type ${type}`);
  }
  return key;
}
