import type { X509Certificate } from '@sigstore/core';

/**
 * Fulcio's certificate extensions (OID 1.3.6.1.4.1.57264.1.N) under the names sigstore-go gives them
 * (`pkg/fulcio/certificate/extensions.go`), so policies read like `gh attestation verify` and cosign flags.
 * .1.2-.1.6 are the deprecated GitHub-only extensions, stored as raw bytes; .1.9 onwards are DER UTF8Strings.
 * The issuer (.1.1/.1.8) is not listed: it is the signer's `issuer`.
 */
const FULCIO_ARC = '1.3.6.1.4.1.57264.1.';
const TABLE: ReadonlyArray<readonly [number, string]> = [
  [2, 'githubWorkflowTrigger'],
  [3, 'githubWorkflowSHA'],
  [4, 'githubWorkflowName'],
  [5, 'githubWorkflowRepository'],
  [6, 'githubWorkflowRef'],
  [9, 'buildSignerURI'],
  [10, 'buildSignerDigest'],
  [11, 'runnerEnvironment'],
  [12, 'sourceRepositoryURI'],
  [13, 'sourceRepositoryDigest'],
  [14, 'sourceRepositoryRef'],
  [15, 'sourceRepositoryIdentifier'],
  [16, 'sourceRepositoryOwnerURI'],
  [17, 'sourceRepositoryOwnerIdentifier'],
  [18, 'buildConfigURI'],
  [19, 'buildConfigDigest'],
  [20, 'buildTrigger'],
  [21, 'runInvocationURI'],
  [22, 'sourceRepositoryVisibilityAtSigning'],
];
const RAW_UNTIL = 6;

export const FULCIO_EXTENSION_NAMES: readonly string[] = TABLE.map(([, name]) => name);

/** The Fulcio extensions a certificate carries, by name; an extension that does not decode is left out. */
export function readFulcioExtensions(cert: X509Certificate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, name] of TABLE) {
    const ext = cert.extension(`${FULCIO_ARC}${n}`);
    if (!ext) continue;
    if (n <= RAW_UNTIL) {
      out[name] = ext.value.toString('utf8');
      continue;
    }
    const inner = ext.valueObj.subs?.[0];
    if (inner) out[name] = inner.value.toString('utf8');
  }
  return out;
}
