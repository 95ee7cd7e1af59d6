// Benchmark images pushed straight to the upstream: random layers (incompressible, unique per image),
// each signed with a test key in cosign's `.sig` tag format so a keyed policy can verify them.
import { randomBytes } from 'node:crypto';

export const MiB = 1024 * 1024;

/** `size` bytes, unique per call: a random 4 MiB block repeated, with a random first block. */
export function randomLayer(size) {
  if (size <= 8 * MiB) return randomBytes(size);
  const block = randomBytes(4 * MiB);
  const out = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += block.length) block.copy(out, off, 0, Math.min(block.length, size - off));
  randomBytes(64 * 1024).copy(out, 0);
  return out;
}

export async function createImagePusher(h, pki, registryUrl, upstreamName) {
  const key = pki.generateKey('ecdsa-p256');
  return {
    publicKeyPem: key.publicKeyPem,
    /** The key images are signed with, for attestations about them (./vuln-scan.mjs). */
    signer: key,
    /** Pushes `repo:tag` with `layers` × `layerSize` random bytes, and its signature. */
    async push(repo, tag, { layers = 3, layerSize = 32 * MiB, sign = true } = {}) {
      const blobs = Array.from({ length: layers }, () => randomLayer(layerSize));
      const image = await h.pushImage(registryUrl, repo, tag, { layers: blobs });
      if (sign) {
        const sig = pki.createSignatureArtifact({ digest: image.digest, repository: `${upstreamName}/${repo}`, signer: key });
        for (const blob of sig.blobs) await h.pushBlob(registryUrl, repo, blob);
        await h.pushManifest(registryUrl, repo, sig.tag, sig.manifest, sig.mediaType);
      }
      return {
        repo,
        tag,
        digest: image.digest,
        bytes: image.size + image.config.size + image.layers.reduce((n, l) => n + l.size, 0),
        blobDigests: [image.config.digest, ...image.layers.map((l) => l.digest)],
      };
    },
  };
}
