import { createHash } from 'node:crypto';

/** RFC 6962 Merkle tree hashing and inclusion proofs (section 2.1), for small in-memory trees. */

export function leafHash(leaf: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([0x00])).update(leaf).digest();
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([0x01])).update(left).update(right).digest();
}

/** Largest power of two strictly smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes. */
export function rootHash(leafHashes: Buffer[]): Buffer {
  if (leafHashes.length === 0) return createHash('sha256').digest();
  if (leafHashes.length === 1) return leafHashes[0]!;
  const k = split(leafHashes.length);
  return nodeHash(rootHash(leafHashes.slice(0, k)), rootHash(leafHashes.slice(k)));
}

/** PATH(m, D[n]): audit path from leaf m to the root, lowest level first. */
export function inclusionProof(index: number, leafHashes: Buffer[]): Buffer[] {
  if (leafHashes.length <= 1) return [];
  const k = split(leafHashes.length);
  if (index < k) return [...inclusionProof(index, leafHashes.slice(0, k)), rootHash(leafHashes.slice(k))];
  return [...inclusionProof(index - k, leafHashes.slice(k)), rootHash(leafHashes.slice(0, k))];
}
