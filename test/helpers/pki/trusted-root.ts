import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestCtLog } from './ct-log.js';
import type { TestFulcio } from './fulcio.js';
import type { TestKey } from './keys.js';
import type { TestRekor } from './rekor.js';
import type { TestTsa } from './tsa.js';

/** Sigstore trusted_root.json (protobuf-specs TrustedRoot, JSON form) for the test CA and logs. */

export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';

export interface TrustedRootParts {
  fulcio: TestFulcio[];
  rekor: TestRekor[];
  ctLogs: TestCtLog[];
  tsas?: TestTsa[];
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, 'Z');
}

function transparencyLog(baseUrl: string, key: TestKey, logId: Buffer, validFrom: Date): Record<string, unknown> {
  return {
    baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: {
      rawBytes: key.publicKeyDer.toString('base64'),
      keyDetails: key.keyDetails,
      validFor: { start: rfc3339(validFrom) },
    },
    logId: { keyId: logId.toString('base64') },
  };
}

export function buildTrustedRoot(parts: TrustedRootParts): Record<string, unknown> {
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: parts.rekor.map((r) => transparencyLog(r.baseUrl, r.key, r.logId, r.validFrom)),
    certificateAuthorities: parts.fulcio.map((f) => ({
      subject: { organization: 'portcullis.test', commonName: 'portcullis-test-root' },
      uri: 'https://fulcio.portcullis.test',
      certChain: { certificates: [{ rawBytes: f.intermediate.der.toString('base64') }, { rawBytes: f.root.der.toString('base64') }] },
      validFor: { start: rfc3339(f.validFrom), end: rfc3339(f.validTo) },
    })),
    ctlogs: parts.ctLogs.map((c) => transparencyLog(c.baseUrl, c.key, c.logId, c.validFrom)),
    timestampAuthorities: (parts.tsas ?? []).map((t) => ({
      subject: { organization: 'portcullis.test', commonName: 'portcullis-test-tsa' },
      uri: 'https://timestamp.portcullis.test',
      certChain: { certificates: [{ rawBytes: t.leaf.der.toString('base64') }, { rawBytes: t.root.der.toString('base64') }] },
      validFor: { start: rfc3339(t.validFrom) },
    })),
  };
}

/** Writes `<dir>/<file>` (default trusted_root.json) and returns its path. */
export async function writeTrustedRootFile(dir: string, parts: TrustedRootParts, file = 'trusted_root.json'): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, file);
  await writeFile(path, `${JSON.stringify(buildTrustedRoot(parts), null, 2)}\n`);
  return path;
}
