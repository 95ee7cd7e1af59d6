import { digestAlgorithm, digestOf, type Digest } from '../oci/digest.js';

/**
 * Small content read back and checked against its digest: damaged content is removed and reported as absent,
 * so it is refetched, never served. `absent` says which read errors mean "not there"; the rest are thrown.
 */
export async function readVerified(
  store: { read(digest: Digest): Promise<Buffer>; remove(digest: Digest): Promise<void> },
  digest: Digest,
  absent: (err: unknown) => boolean,
): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.read(digest);
  } catch (err) {
    if (absent(err)) return undefined;
    throw err;
  }
  if (digestOf(bytes, digestAlgorithm(digest)) === digest) return bytes;
  await store.remove(digest);
  return undefined;
}
