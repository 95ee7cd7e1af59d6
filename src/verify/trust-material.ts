import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import type { TrustConfig } from '../config/types.js';
import { parseRootFile, TrustMaterialError, type RootInstance } from './trusted-root-file.js';
import { DEFAULT_ROOT } from './types.js';
import { loadNotationTrust, type NotationTrust } from './notation/trust-store.js';

export { parseTrustedRoot, TrustMaterialError, type RootInstance } from './trusted-root-file.js';

export { DEFAULT_ROOT } from './types.js';

/** A named trusted root: every root its file lists (a `.jsonl` lists several) is trusted under the name. */
export interface TrustRoot {
  name: string;
  instances: RootInstance[];
}

/** Trust material loaded once at start: the trusted roots plus the operator's named keys. */
export interface LoadedTrust {
  /** The default root first, then `trust.roots` by name. */
  roots: TrustRoot[];
  keys: ReadonlyMap<string, KeyObject>;
  /** Notation trust stores (`trust.notation.trustStoreDir`), when configured. */
  notation?: NotationTrust;
  /** Covers every root, key and Notation store: evidence gathered under other trust material is stale. */
  fingerprint: string;
}

const SEEDS_MIRROR = 'https://tuf-repo-cdn.sigstore.dev';

/**
 * Loads every root and key, failing with the path of the first that does not load (fail closed: the proxy
 * does not start with a root missing). `defaultRootBytes` replaces the default root's file (a refreshed
 * public-good root).
 */
export function loadTrust(config: TrustConfig, defaultRootBytes: Buffer = readRootBytes(config.trustedRoot)): LoadedTrust {
  const sources = [{ name: DEFAULT_ROOT, label: config.trustedRoot, bytes: defaultRootBytes }];
  for (const name of Object.keys(config.roots ?? {}).sort()) {
    if (!name.trim() || name === DEFAULT_ROOT) throw new TrustMaterialError(`trust.roots: "${name}" is not a usable root name`);
    const path = config.roots![name]!;
    const label = `trust.roots.${name} (${path})`;
    sources.push({ name, label, bytes: readFile(path, label) });
  }
  const roots = sources.map((s) => ({ name: s.name, instances: parseRootFile(s.bytes, s.label) }));
  const keys = new Map<string, KeyObject>();
  const keyPrints: string[] = [];
  for (const name of Object.keys(config.keys).sort()) {
    const key = parseKey(name, config.keys[name]!);
    keys.set(name, key);
    keyPrints.push(`${name}=${key.export({ type: 'spki', format: 'der' }).toString('base64')}`);
  }
  const rootPrints = sources.map((s) => `${s.name}=${createHash('sha256').update(s.bytes).digest('hex')}`);
  const fingerprint = createHash('sha256').update(rootPrints.join('\n')).update('\n\n').update(keyPrints.join('\n')).digest('hex');
  if (!config.notation?.trustStoreDir) return { roots, keys, fingerprint };
  const notation = loadNotationTrust(config.notation.trustStoreDir);
  return { roots, keys, notation, fingerprint: createHash('sha256').update(fingerprint).update(`+notation:${notation.fingerprint}`).digest('hex') };
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
  return readFile(source, 'trusted root');
}

function readFile(path: string, label: string): Buffer {
  if (!isAbsolute(path)) throw new TrustMaterialError(`${label} must be an absolute path`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TrustMaterialError(`cannot read ${label === 'trusted root' ? `trusted root ${path}` : label}: ${(err as Error).message}`);
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
