import { createHash, type Hash } from 'node:crypto';
import { OciError } from './errors.js';

/** The only module that hashes content. Only sha256 and sha512 digests are accepted. */
export type Digest = string & { readonly __digest: unique symbol };

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

export function parseDigest(value: string): Digest {
  if (!isDigest(value)) throw new OciError('DIGEST_INVALID', `invalid digest "${truncate(value)}"`);
  return value;
}

export function digestAlgorithm(digest: Digest): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function sha256(bytes: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function digestOf(bytes: Buffer, algorithm: 'sha256' | 'sha512' = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}` as Digest;
}

/** Incremental hasher for streams: feed chunks, then compare against the expected digest. */
export class DigestVerifier {
  private readonly hash: Hash;
  constructor(readonly expected: Digest) {
    this.hash = createHash(digestAlgorithm(expected));
  }
  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }
  /** Returns the actual digest; callers compare it with `expected`. */
  finish(): Digest {
    return `${digestAlgorithm(this.expected)}:${this.hash.digest('hex')}` as Digest;
  }
}

/** cosign's tag for artifacts of a digest: `sha256-<hex>` plus an optional suffix. */
export function digestTag(digest: Digest, suffix?: 'sig' | 'att' | 'sbom'): string {
  const tag = digest.replace(':', '-');
  return suffix ? `${tag}.${suffix}` : tag;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}
