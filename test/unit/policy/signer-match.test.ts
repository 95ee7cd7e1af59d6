import { describe, expect, it } from 'vitest';
import { describeRequirement, satisfies } from '../../../src/policy/signer-match.js';
import type { SignatureRequirement } from '../../../src/policy/types.js';
import type { KeylessSigner } from '../../../src/verify/types.js';

const GH = 'https://token.actions.githubusercontent.com';
const REUSABLE = 'https://github.com/acme/workflows/.github/workflows/attest.yml@refs/heads/main';
const signer = (over: Partial<KeylessSigner> = {}): { signer: KeylessSigner } => ({
  signer: {
    type: 'keyless',
    issuer: GH,
    subject: REUSABLE,
    roots: ['default'],
    extensions: { sourceRepositoryURI: 'https://github.com/acme/app', sourceRepositoryOwnerURI: 'https://github.com/acme', runnerEnvironment: 'github-hosted' },
    ...over,
  },
});
const keyless = (id: Record<string, unknown>): SignatureRequirement => ({ keyless: { issuer: GH, subject: REUSABLE, ...id } });

describe('keyless entries: roots, extensions, certificates without an issuer', () => {
  it('counts a signature only for the root it chained to', () => {
    expect(satisfies(keyless({}), signer())).toBe(true);
    expect(satisfies(keyless({ root: 'github' }), signer())).toBe(false);
    expect(satisfies(keyless({ root: 'github' }), signer({ roots: ['default', 'github'] }))).toBe(true);
    expect(satisfies(keyless({}), signer({ roots: ['github'] }))).toBe(false);
  });

  it('pins a reusable signing workflow to the callers of one organisation through the extensions', () => {
    expect(satisfies(keyless({ extensions: { sourceRepositoryOwnerURI: 'https://github.com/acme' } }), signer())).toBe(true);
    expect(satisfies(keyless({ extensions: { sourceRepositoryOwnerURI: 'https://github.com/evil' } }), signer())).toBe(false);
    expect(satisfies(keyless({ extensions: { buildTrigger: 'push' } }), signer())).toBe(false);
    expect(satisfies(keyless({ extensionsRegExp: { sourceRepositoryURI: 'https://github\\.com/acme/.*' } }), signer())).toBe(true);
    // Whole-string: a repository that merely starts like the allowed one does not pass.
    expect(satisfies(keyless({ extensionsRegExp: { sourceRepositoryURI: 'https://github\\.com/acme/app' } }), signer({ extensions: { sourceRepositoryURI: 'https://github.com/acme/app-evil' } }))).toBe(false);
  });

  it('matches a certificate without an issuer extension only when the entry names no issuer', () => {
    const release = signer({ issuer: undefined, subject: 'https://dotcom.releases.github.com' });
    expect(satisfies({ keyless: { subject: 'https://dotcom.releases.github.com' } }, release)).toBe(true);
    expect(satisfies({ keyless: { subject: 'https://dotcom.releases.github.com', issuerRegExp: '.*' } }, release)).toBe(false);
  });

  it('describes what an entry asks for in deny reasons', () => {
    expect(describeRequirement(keyless({ root: 'github', extensions: { sourceRepositoryOwnerURI: 'https://github.com/acme' } }))).toBe(
      `${REUSABLE} (issuer ${GH}, root github, sourceRepositoryOwnerURI=https://github.com/acme)`,
    );
  });
});
