import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateRule } from '../../src/policy/evaluate.js';
import { satisfiesAny } from '../../src/policy/signer-match.js';
import type { PolicyRule, SignatureRequirement } from '../../src/policy/types.js';
import { verifyBundleBytes } from '../../src/verify/bundle-artifact.js';
import { gatherEvidence } from '../../src/verify/gatherer.js';
import { loadTrust, type LoadedTrust } from '../../src/verify/trust-material.js';
import { toReason } from '../../src/verify/verify-error.js';
import { OciLayoutSource } from './oci-layout-source.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const VECTORS = resolve(repoRoot, '../shared/vectors');
const present = existsSync(join(VECTORS, 'cases.json'));
if (!present) console.log(`conformance: ${VECTORS} not found; vector suite skipped`);

const CONFORMANCE_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const CONFORMANCE_ISSUER = 'https://token.actions.githubusercontent.com';

interface Outcome {
  group: string;
  name: string;
  expect: 'pass' | 'fail';
  got: 'pass' | 'fail';
  detail: string;
}
const outcomes: Outcome[] = [];
const v = (p: string) => join(VECTORS, p);
const pem = (der: string) => `-----BEGIN PUBLIC KEY-----\n${der}\n-----END PUBLIC KEY-----\n`;

function trust(rootPath: string, keys: Record<string, string> = {}): LoadedTrust {
  return loadTrust({ trustedRoot: rootPath, keys, verifyTtlMs: 0 });
}

function record(group: string, name: string, expected: 'pass' | 'fail', got: 'pass' | 'fail', detail: string): void {
  outcomes.push({ group, name, expect: expected, got, detail });
  expect(got, `${name}: ${detail}`).toBe(expected);
}

const cases = present
  ? JSON.parse(readFileSync(v('cases.json'), 'utf8'))
  : { legacy_sig_layouts: [], legacy_att_layouts: [], referrer_layouts: [], bundles: [], bundles_github_instance: [] };
const defaultRoot = v(cases.defaults?.trust ?? 'public-good/trusted_root.json');
const NOW = new Date();

/** A case without an issuer accepts any issuer, and none (GitHub's release-attestation certificate has none). */
function keylessReq(c: { identity?: string; issuer?: string }, root?: string): SignatureRequirement {
  return { keyless: { subject: c.identity, ...(c.issuer && { issuer: c.issuer }), ...(root && { root }) } };
}

describe.skipIf(!present)('conformance: legacy cosign .sig layouts', () => {
  for (const c of cases.legacy_sig_layouts) {
    const label = `${c.layout.split('/').pop()} ${c.identity ?? c.key.split('/').pop()}${c.issuer ? ` ${c.issuer}` : ''}${c.tlog ? ` tlog ${c.tlog}` : ''}`;
    it(`${label} → ${c.expect}`, async () => {
      const keys: Record<string, string> = c.key ? { k: readFileSync(v(c.key), 'utf8') } : {};
      const source = new OciLayoutSource(v(c.layout));
      const evidence = await gatherEvidence(source.subject(), source, trust(v(c.trust ?? cases.defaults.trust), keys), NOW);
      const req: SignatureRequirement = c.key ? { key: 'k', tlog: c.tlog === 'not-required' ? 'optional' : 'required' } : keylessReq(c);
      const rule: PolicyRule = { name: 'vectors', match: ['**'], mode: 'enforce', signatures: { anyOf: [req] } };
      const d = evaluateRule(rule, evidence, { now: NOW });
      record('legacy .sig', label, c.expect, d.outcome === 'allow' ? 'pass' : 'fail', d.reasons.join('; ') || 'allowed');
    });
  }
});

describe.skipIf(!present)('conformance: legacy cosign .att layouts (SLSA provenance)', () => {
  for (const c of cases.legacy_att_layouts) {
    const label = `${c.layout.split('/').slice(-2, -1)[0]}${c.source ? ` source ${c.source}` : ''}${c.branch ? ` branch ${c.branch}` : ''}`;
    it(`${label} → ${c.expect}`, async () => {
      const source = new OciLayoutSource(v(c.layout));
      const expectedDigest = readFileSync(`${v(c.layout)}.digest`, 'utf8').trim();
      expect(source.image.digest).toBe(expectedDigest.startsWith('sha256:') ? expectedDigest : `sha256:${expectedDigest}`);
      const evidence = await gatherEvidence(source.subject(), source, trust(defaultRoot), NOW);
      const rule: PolicyRule = {
        name: 'vectors',
        match: ['**'],
        mode: 'enforce',
        provenance: {
          signedBy: { anyOf: [keylessReq(c)] },
          builderId: c.identity,
          ...(c.source && { sourceRepository: `https://${c.source}` }),
          ...(c.branch && { sourceBranch: c.branch }),
        },
      };
      const d = evaluateRule(rule, evidence, { now: NOW });
      const typed = !c.predicateType || evidence.attestations.some((a) => a.predicateType === c.predicateType);
      record('legacy .att', label, c.expect, d.outcome === 'allow' && typed ? 'pass' : 'fail', d.reasons.join('; ') || 'allowed');
    });
  }
});

describe.skipIf(!present)('conformance: OCI 1.1 referrer layouts', () => {
  for (const c of cases.referrer_layouts) {
    for (const referrersApi of [true, false]) {
      const label = `${c.layout.split('/').pop()} via ${referrersApi ? 'referrers API' : 'tag fallback'}`;
      it(`${label} → ${c.expect}`, async () => {
        const source = new OciLayoutSource(v(c.layout), { referrersApi });
        const evidence = await gatherEvidence(source.subject(), source, trust(v(c.trust ?? cases.defaults.trust)), NOW);
        const verified = [...evidence.signatures, ...evidence.attestations].filter((s) => satisfiesAny([keylessReq(c)], s));
        const detail = verified.length ? 'verified' : evidence.rejected.map((r) => r.reason).join(' | ') || evidence.gatherError || 'no evidence';
        record('referrers', label, c.expect, verified.length ? 'pass' : 'fail', detail);
      });
    }
  }
});

/**
 * Bundles the shared cases expect to pass that Portcullis refuses on purpose: sigstore-js 1.x (early 2023)
 * put the Sigstore root certificate into `x509CertificateChain`; a chain that carries a root CA is refused,
 * as the sigstore-conformance suite (`bundle-with-root-cert_fail`) and sigstore-python require.
 */
const ROOT_IN_CHAIN = new Set(['sigstore-go/bundles/sigstore@1.3.0-provenance.bundle.json', 'sigstore-go/bundles/dsse.sigstore.json']);

for (const [group, list] of [['bundles', cases.bundles], ['github instance', cases.bundles_github_instance ?? []]] as const) {
  describe.skipIf(!present)(`conformance: standalone bundles (${group})`, () => {
    for (const c of list) {
      const label = `${c.bundle.split('/').pop()}${c.trust ? '' : ' (public-good root)'} ${c.identity ?? ''}`;
      it(`${label} → ${ROOT_IN_CHAIN.has(c.bundle) ? 'fail (root certificate in its chain)' : c.expect}`, () => {
        const { keys, subject, artifact } = caseInputs(c);
        const verdict = bundleVerdict(readFileSync(v(c.bundle)), v(c.trust ?? cases.defaults.trust), keys, subject, artifact, c);
        if (verdict.ok && c.predicateType) expect(verdict.predicateTypes).toContain(c.predicateType);
        if (ROOT_IN_CHAIN.has(c.bundle)) expect(verdict.detail).toMatch(/^CERT_CHAIN: the certificate chain carries a root CA certificate/);
        const expected = ROOT_IN_CHAIN.has(c.bundle) ? 'fail' : c.expect;
        record(group, label, expected, verdict.ok ? 'pass' : 'fail', verdict.detail);
      });
    }
  });
}

/**
 * The GitHub-instance cases once more as a platform team configures them: the public-good root as the
 * default and `gh attestation trusted-root`'s JSON Lines (public-good and GitHub lines) as root "github";
 * a case on GitHub's root names that root, a case on the default root names none.
 */
const GITHUB_JSONL = 'github-attestations/trusted_root.jsonl';
describe.skipIf(!present || !existsSync(v(GITHUB_JSONL)))('conformance: GitHub-instance bundles beside the public-good root', () => {
  for (const c of cases.bundles_github_instance ?? []) {
    const root = c.trust ? 'github' : undefined;
    const label = `${c.bundle.split('/').pop()} root ${root ?? 'default'} ${c.identity ?? ''}`;
    it(`${label} → ${c.expect}`, () => {
      const { keys, subject, artifact } = caseInputs(c);
      const both = loadTrust({ trustedRoot: defaultRoot, roots: { github: v(GITHUB_JSONL) }, keys, verifyTtlMs: 0 });
      const verdict = bundleVerdict(readFileSync(v(c.bundle)), both, keys, subject, artifact, c, root);
      record('github instance, two roots', label, c.expect, verdict.ok ? 'pass' : 'fail', verdict.detail);
    });
  }
});

/**
 * What `gh attestation verify --owner/--signer-workflow` and cosign's `--certificate-github-workflow-*`
 * check, as keyless `extensions` over real certificates: a reusable workflow trusted for one owner's
 * callers only (the caller is in sourceRepositoryURI, the SAN is the reusable workflow), and a private
 * repository's attestation from GitHub's instance.
 */
describe.skipIf(!present || !existsSync(v(GITHUB_JSONL)))('conformance: certificate extensions of real GitHub attestations', () => {
  const GH_ISSUER = 'https://token.actions.githubusercontent.com';
  const reusable = {
    bundle: 'github-attestations/public-good-instance/reusable-workflow-attestation.sigstore.json',
    subject: 'sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25',
    signer: 'https://github\\.com/github/artifact-attestations-workflows/\\.github/workflows/attest\\.yml@.*',
  };
  const opa = {
    bundle: 'github-attestations/github-instance/artifact-attestations-opa-provider.valid-bundle.json',
    subject: 'sha256:d57f9212097b86c8d75158ea1d974721e7c6f8c33bd77838b242c8f6a2d21813',
    signer: 'https://github\\.com/github/artifact-attestations-opa-provider/\\.github/workflows/docker\\.yaml@.*',
  };
  const table: Array<[string, typeof reusable, 'pass' | 'fail', Record<string, unknown>]> = [
    ['reusable workflow, callers of owner malancas', reusable, 'pass', { extensions: { sourceRepositoryOwnerURI: 'https://github.com/malancas', runnerEnvironment: 'github-hosted' } }],
    ['reusable workflow, callers of another owner', reusable, 'fail', { extensions: { sourceRepositoryOwnerURI: 'https://github.com/acme' } }],
    ['reusable workflow, caller repository pattern', reusable, 'pass', { extensionsRegExp: { sourceRepositoryURI: 'https://github\\.com/malancas/[^/]+' } }],
    ['reusable workflow named as the caller workflow', reusable, 'fail', { extensionsRegExp: { buildSignerURI: 'https://github\\.com/malancas/.*' } }],
    ['private repository on GitHub\'s instance', opa, 'pass', { root: 'github', extensions: { sourceRepositoryVisibilityAtSigning: 'private', sourceRepositoryOwnerURI: 'https://github.com/github' } }],
    ['private repository, pinned to another repository', opa, 'fail', { root: 'github', extensions: { sourceRepositoryURI: 'https://github.com/github/other' } }],
    ['private repository, public-good root named', opa, 'fail', { extensions: { sourceRepositoryOwnerURI: 'https://github.com/github' } }],
  ];
  for (const [label, c, expected, extra] of table) {
    it(`${label} → ${expected}`, () => {
      const both = loadTrust({ trustedRoot: defaultRoot, roots: { github: v(GITHUB_JSONL) }, keys: {}, verifyTtlMs: 0 });
      const subject = { digests: { sha256: c.subject.replace('sha256:', '') } };
      let got: 'pass' | 'fail' = 'fail';
      let detail = 'no match';
      try {
        const found = verifyBundleBytes(readFileSync(v(c.bundle)), { subject, source: 'referrer', artifactDigest: 'bundle' }, { roots: both.roots, keys: both.keys, now: NOW });
        const req = { keyless: { issuer: GH_ISSUER, subjectRegExp: c.signer, ...extra } } as SignatureRequirement;
        got = found.attestations.some((a) => satisfiesAny([req], a)) ? 'pass' : 'fail';
        detail = got === 'pass' ? 'verified' : `signers: ${found.attestations.map((a) => JSON.stringify(a.signer)).join(', ')}`;
      } catch (err) {
        detail = toReason(err);
      }
      record('certificate extensions', label, expected, got, detail);
    });
  }
});

function caseInputs(c: any): { keys: Record<string, string>; subject: { digests: Record<string, string> } | 'unchecked'; artifact?: Buffer } {
  let keys: Record<string, string> = {};
  if (c.key) keys = { k: readFileSync(v(c.key), 'utf8') };
  if (c.keys) {
    const doc = JSON.parse(readFileSync(v(c.keys), 'utf8')) as { keys: Array<{ keyId: string; keyUsage: string; publicKey: { rawBytes: string } }> };
    for (const k of doc.keys) if (k.keyUsage === c.keyUsage) keys[k.keyId] = pem(k.publicKey.rawBytes);
  }
  const artifact = c.artifactText !== undefined ? Buffer.from(c.artifactText) : undefined;
  const subject = c.subjectDigest
    ? { digests: { sha256: c.subjectDigest.replace('sha256:', '') } }
    : artifact
      ? { digests: { sha256: createHash('sha256').update(artifact).digest('hex') } }
      : ('unchecked' as const);
  return { keys, subject, ...(artifact && { artifact }) };
}

describe.skipIf(!present)('conformance: sigstore-conformance bundle-verify', () => {
  const base = v('sigstore-conformance/bundle-verify');
  const dirs = present ? readdirSync(base, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : [];
  for (const name of dirs) {
    const expected = name.endsWith('_fail') ? 'fail' : 'pass';
    it(`${name} → ${expected}`, () => {
      const dir = join(base, name);
      const file = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : undefined);
      const artifact = readFileSync(existsSync(join(dir, 'artifact')) ? join(dir, 'artifact') : join(base, 'a.txt'));
      const keyPem = file('key.pub');
      const id = keyPem ? {} : { identity: file('identity') ?? CONFORMANCE_IDENTITY, issuer: file('issuer') ?? CONFORMANCE_ISSUER };
      const root = existsSync(join(dir, 'trusted_root.json')) ? join(dir, 'trusted_root.json') : defaultRoot;
      const subject = { digests: { sha256: createHash('sha256').update(artifact).digest('hex') } };
      const verdict = bundleVerdict(readFileSync(join(dir, 'bundle.sigstore.json')), root, keyPem ? { k: keyPem + '\n' } : {}, subject, artifact, id);
      record('sigstore-conformance', name, expected, verdict.ok ? 'pass' : 'fail', verdict.detail);
    });
  }
});

function bundleVerdict(
  bytes: Buffer,
  rootPath: string | LoadedTrust,
  keys: Record<string, string>,
  subject: { digests: Record<string, string> } | 'unchecked',
  artifact: Buffer | undefined,
  id: { identity?: string; issuer?: string },
  root?: string,
): { ok: boolean; detail: string; predicateTypes: string[] } {
  let t: LoadedTrust;
  try {
    t = typeof rootPath === 'string' ? trust(rootPath, keys) : rootPath;
  } catch (err) {
    return { ok: false, detail: `trust material rejected: ${(err as Error).message}`, predicateTypes: [] };
  }
  try {
    const found = verifyBundleBytes(bytes, { subject, artifact, source: 'referrer', artifactDigest: 'bundle' }, { roots: t.roots, keys: t.keys, now: NOW });
    const all = [...found.signatures, ...found.attestations];
    const reqs: SignatureRequirement[] = id.identity ? [keylessReq(id, root)] : Object.keys(keys).map((k) => ({ key: k }));
    const ok = all.some((s) => satisfiesAny(reqs, s));
    const signers = all.map((s) => JSON.stringify(s.signer)).join(', ');
    return { ok, detail: ok ? 'verified' : `verified, but signer ${signers} does not match`, predicateTypes: found.attestations.map((a) => a.predicateType) };
  } catch (err) {
    return { ok: false, detail: toReason(err), predicateTypes: [] };
  }
}

afterAll(() => {
  if (!present || outcomes.length === 0) return;
  const correct = outcomes.filter((o) => o.expect === o.got).length;
  console.log(`conformance: ${correct}/${outcomes.length} verdicts correct`);
  const groups = [...new Set(outcomes.map((o) => o.group))];
  const lines = groups.map((g) => {
    const os = outcomes.filter((o) => o.group === g);
    return `| ${g} | ${os.filter((o) => o.expect === o.got).length}/${os.length} |`;
  });
  const wrong = outcomes.filter((o) => o.expect !== o.got);
  const out = process.env.CONFORMANCE_RESULTS;
  if (out) {
    writeFileSync(
      out,
      JSON.stringify({ correct, total: outcomes.length, byGroup: lines, wrong, all: outcomes }, null, 2),
    );
  }
});
