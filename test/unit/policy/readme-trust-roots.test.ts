import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import { validatePolicyRules } from '../../../src/policy/validate.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence, KeylessSigner, VerifiedAttestation } from '../../../src/verify/types.js';

/** The trust-root recipes in the README load as written and judge signers as the README says. */
const README = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../../README.md'), 'utf8');
const start = README.indexOf('### Several trust roots and GitHub artifact attestations');
const section = README.slice(start, README.indexOf('### Attestations of any kind', start));
const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
const [trustBlock, ...rules] = blocks as [{ trust: Record<string, unknown> }, ...PolicyRule[]];
const [orgPublic, reusable, privateRepos, corp, all] = rules as [PolicyRule, PolicyRule, PolicyRule, PolicyRule, PolicyRule];

const NOW = new Date('2026-06-01T00:00:00Z');
const GH = 'https://token.actions.githubusercontent.com';

function signer(roots: string[], subject: string, extensions: Record<string, string> = {}, issuer = GH): KeylessSigner {
  return { type: 'keyless', issuer, subject, roots, extensions };
}

function allowed(rule: PolicyRule, s: KeylessSigner, builderId = 'https://github.com/actions/runner/github-hosted'): boolean {
  const provenance: VerifiedAttestation = {
    source: 'referrer', artifactDigest: 'sha256:ref', signer: s, predicateType: 'https://slsa.dev/provenance/v1', statementDigest: 'sha256:st',
    provenance: { predicateType: 'https://slsa.dev/provenance/v1', builderId, sourceRepository: 'https://github.com/acme/app' },
  };
  const evidence: Evidence = {
    subject: `sha256:${'b'.repeat(64)}` as Digest,
    signatures: [{ source: 'referrer', artifactDigest: 'sha256:ref', signer: s }],
    attestations: [provenance], rejected: [], collectedAt: NOW.toISOString(),
  };
  return evaluateRule(rule, evidence, { now: NOW }).outcome === 'allow';
}

const workflow = (repo: string) => `https://github.com/${repo}/.github/workflows/release.yml@refs/heads/main`;
const acme = { sourceRepositoryOwnerURI: 'https://github.com/acme', runnerEnvironment: 'github-hosted' };

describe('README: several trust roots', () => {
  it('the trust block and every recipe load as written', () => {
    const config = parseConfig(
      { upstreams: [{ name: 'ghcr.io', url: 'https://ghcr.io' }], ...trustBlock, policies: rules.map((r, i) => ({ ...r, name: `r${i}` })) },
      '/etc/portcullis/config.json',
      {},
    );
    expect(Object.keys(config.trust.roots!)).toEqual(['github', 'corp']);
    expect(validatePolicyRules(rules, new Set(), new Set(['default', 'github', 'corp'])).errors).toEqual([]);
  });

  it("trusts my organisation's workflows on GitHub-hosted runners only", () => {
    expect(allowed(orgPublic, signer(['default'], workflow('acme/app'), acme))).toBe(true);
    expect(allowed(orgPublic, signer(['default'], workflow('acme/app'), { ...acme, runnerEnvironment: 'self-hosted' }))).toBe(false);
    expect(allowed(orgPublic, signer(['default'], workflow('evil/app'), { ...acme, sourceRepositoryOwnerURI: 'https://github.com/evil' }))).toBe(false);
  });

  it("trusts my reusable workflow for my organisation's callers only", () => {
    const reusableWorkflow = 'https://github.com/acme/signing/.github/workflows/attest.yml@refs/tags/v1.2.0';
    expect(allowed(reusable, signer(['default'], reusableWorkflow, { sourceRepositoryURI: 'https://github.com/acme/app' }))).toBe(true);
    expect(allowed(reusable, signer(['default'], reusableWorkflow, { sourceRepositoryURI: 'https://github.com/evil/app' }))).toBe(false);
  });

  it("trusts private repositories' GitHub-instance attestations, not public-good ones", () => {
    expect(allowed(privateRepos, signer(['github'], workflow('acme/internal'), acme))).toBe(true);
    expect(allowed(privateRepos, signer(['default'], workflow('acme/internal'), acme))).toBe(false);
    expect(allowed(privateRepos, signer(['github'], workflow('acme/internal'), acme), 'https://example.com/self-hosted')).toBe(false);
  });

  it('trusts a private instance under its own root', () => {
    expect(allowed(corp, signer(['corp'], 'dev@corp.example', {}, 'https://sso.corp.example'))).toBe(true);
    expect(allowed(corp, signer(['default'], 'dev@corp.example', {}, 'https://sso.corp.example'))).toBe(false);
  });

  it('one rule: each instance pinned to the organisation', () => {
    expect(allowed(all, signer(['default'], workflow('acme/app'), acme))).toBe(true);
    expect(allowed(all, signer(['github'], workflow('acme/internal'), acme))).toBe(true);
    expect(allowed(all, signer(['corp'], 'dev@corp.example', {}, 'https://sso.corp.example'))).toBe(true);
    expect(allowed(all, signer(['github'], workflow('evil/internal'), { sourceRepositoryOwnerURI: 'https://github.com/evil' }))).toBe(false);
    expect(allowed(all, signer(['default'], 'dev@corp.example', {}, 'https://sso.corp.example'))).toBe(false);
  });
});
