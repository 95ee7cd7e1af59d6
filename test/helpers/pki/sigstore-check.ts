import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, type Signer as VerifiedSigner } from '@sigstore/verify';
import type { TestKey } from './keys.js';

/**
 * Independent check of produced artifacts with sigstore-js's offline lower layer, so tests can
 * assert that a fixture is (or is deliberately not) cryptographically valid before using it.
 */
export interface SigstoreCheckOptions {
  /** Keys for `publicKey.hint` bundles, by hint. */
  keys?: Record<string, TestKey>;
  tlogThreshold?: number;
  ctlogThreshold?: number;
  timestampThreshold?: number;
}

export function verifyWithSigstore(
  trustedRootJson: unknown,
  bundleJson: unknown,
  artifact: Buffer | undefined,
  opts: SigstoreCheckOptions = {},
): VerifiedSigner {
  const root = TrustedRoot.fromJSON(trustedRootJson);
  const tm = toTrustMaterial(root, (hint: string) => {
    const key = opts.keys?.[hint];
    if (!key) throw new Error(`no key for hint ${hint}`);
    return { publicKey: key.publicKey, validFor: () => true };
  });
  const verifier = new Verifier(tm, {
    tlogThreshold: opts.tlogThreshold,
    ctlogThreshold: opts.ctlogThreshold,
    timestampThreshold: opts.timestampThreshold,
  });
  return verifier.verify(toSignedEntity(bundleFromJSON(bundleJson), artifact));
}
