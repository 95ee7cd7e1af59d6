import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkBundle } from '../../../src/commands/bundle-check.js';

const BASE = resolve(dirname(fileURLToPath(import.meta.url)), '../../fixtures/sigstore-conformance/bundle-verify');
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const signer = { identity: IDENTITY, issuer: 'https://token.actions.githubusercontent.com' };
const trust = { trustedRoot: 'public-good', keys: {}, verifyTtlMs: 0 };
const artifact = { bytes: readFileSync(join(BASE, 'a.txt')) };

function happyV01(): any {
  return JSON.parse(readFileSync(join(BASE, 'happy-path-v0.1/bundle.sigstore.json'), 'utf8'));
}

describe('bundle structure beyond the schema', () => {
  it('the untouched v0.1 bundle verifies', () => {
    expect(checkBundle({ bundle: Buffer.from(JSON.stringify(happyV01())), artifact, signer, trust })).toMatchObject({ verified: true });
  });

  it('an inclusion proof without its checkpoint is MALFORMED, not a crash', () => {
    const b = happyV01();
    delete b.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint;
    const v = checkBundle({ bundle: Buffer.from(JSON.stringify(b)), artifact, signer, trust });
    expect(v).toEqual({ verified: false, reason: 'MALFORMED: tlogEntries[0] has an inclusion proof without a checkpoint' });
  });

  it('a valid bundle with the Sigstore root appended to its chain is refused', () => {
    const b = happyV01();
    const root = JSON.parse(readFileSync(join(BASE, 'bundle-with-root-cert_fail/bundle.sigstore.json'), 'utf8')).verificationMaterial.x509CertificateChain.certificates[1]; // the self-signed root
    b.verificationMaterial.x509CertificateChain.certificates.push(root);
    const v = checkBundle({ bundle: Buffer.from(JSON.stringify(b)), artifact, signer, trust });
    expect(v).toMatchObject({ verified: false });
    expect((v as { reason: string }).reason).toMatch(/^CERT_CHAIN: the certificate chain carries a root CA certificate \(O=sigstore\.dev, CN=sigstore\)/);
  });

  it('an inclusion proof that disagrees with its own checkpoint, or points past its tree, is MALFORMED', () => {
    const cases: Array<[string, (p: any) => void]> = [
      ['a tree size other than the checkpoint\'s', (p) => (p.treeSize = String(Number(p.treeSize) + 1))],
      ['a root hash other than the checkpoint\'s', (p) => (p.rootHash = Buffer.alloc(32, 7).toString('base64'))],
      ['an index past the tree', (p) => (p.logIndex = p.treeSize)],
      ['a tree size that is no number', (p) => (p.treeSize = 'x')],
    ];
    for (const [label, mutate] of cases) {
      const b = JSON.parse(readFileSync(join(BASE, 'happy-path-v0.3/bundle.sigstore.json'), 'utf8'));
      mutate(b.verificationMaterial.tlogEntries[0].inclusionProof);
      const v = checkBundle({ bundle: Buffer.from(JSON.stringify(b)), artifact, signer, trust });
      expect(v, label).toMatchObject({ verified: false });
      expect((v as { reason: string }).reason, label).toMatch(/^MALFORMED: tlogEntries\[0\] has an inclusion proof /);
    }
  });
});

