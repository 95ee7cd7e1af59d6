import { X509Certificate, createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { TrustMaterialError } from '../trusted-root-file.js';

/** The three kinds of Notation trust store, as `notation` names them in a trust policy (`ca:acme`). */
export const STORE_TYPES = ['ca', 'signingAuthority', 'tsa'] as const;
export type StoreType = (typeof STORE_TYPES)[number];

/** One named store: `ca:acme` and the certificates in `x509/ca/acme/`. */
export interface NotationStore {
  /** `<type>:<name>`, the words a rule uses. */
  id: string;
  type: StoreType;
  certificates: X509Certificate[];
}

export interface NotationTrust {
  stores: NotationStore[];
  /** Covers every certificate of every store: evidence gathered under other stores is stale. */
  fingerprint: string;
}

const CERT_FILE = /\.(crt|pem|cer)$/i;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads a Notation trust store folder (`x509/{ca,signingAuthority,tsa}/<name>/*.crt|*.pem|*.cer`, PEM or DER),
 * so admins can point at the folder `notation` already uses. Fails at start on a file that holds no
 * certificate: a store silently missing a certificate would refuse images for no visible reason.
 */
export function loadNotationTrust(dir: string): NotationTrust {
  if (!isAbsolute(dir)) throw new TrustMaterialError(`trust.notation.trustStoreDir must be an absolute path, got "${dir}"`);
  // A mistyped path would otherwise refuse every Notation signature with no sign of why.
  if (!isDirectory(join(dir, 'x509'))) throw new TrustMaterialError(`trust.notation.trustStoreDir ${dir} has no x509 folder (a notation trust store holds x509/ca/<name>/…)`);
  const stores: NotationStore[] = [];
  const prints: string[] = [];
  for (const type of STORE_TYPES) {
    const typeDir = join(dir, 'x509', type);
    for (const name of listDirs(typeDir).sort()) {
      const certificates: X509Certificate[] = [];
      for (const file of readdirSync(join(typeDir, name)).filter((f) => CERT_FILE.test(f)).sort()) {
        const path = join(typeDir, name, file);
        const found = parseCertificates(readFileSync(path), path);
        certificates.push(...found);
        for (const c of found) prints.push(`${type}:${name}=${c.fingerprint256}`);
      }
      if (certificates.length) stores.push({ id: `${type}:${name}`, type, certificates });
    }
  }
  return { stores, fingerprint: createHash('sha256').update(prints.join('\n')).digest('hex') };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function listDirs(path: string): string[] {
  try {
    return readdirSync(path).filter((n) => statSync(join(path, n)).isDirectory());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new TrustMaterialError(`cannot read Notation trust store ${path}: ${(err as Error).message}`);
  }
}

function parseCertificates(bytes: Buffer, path: string): X509Certificate[] {
  try {
    const text = bytes.toString('latin1');
    const blocks = text.match(PEM_BLOCK);
    if (blocks) return blocks.map((b) => new X509Certificate(b));
    return [new X509Certificate(bytes)];
  } catch (err) {
    throw new TrustMaterialError(`Notation trust store file ${path} is not a PEM or DER certificate: ${(err as Error).message}`);
  }
}
