import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { baseConfig } from '../integration/admin/fixture.js';
import { checkBundle, type BundleArtifact, type BundleVerdict } from '../../src/commands/bundle-check.js';
import type { TrustConfig } from '../../src/config/types.js';

/**
 * The sigstore-conformance suite's `bundle-verify` cases (pinned in test/fixtures/sigstore-conformance,
 * see its README), run as the suite's client runner runs them: every case twice, once with the artifact's
 * path and once with its `sha256:` digest; `_fail` cases must be refused, the others accepted. Most go
 * through `checkBundle`, the function behind `portcullis verify-bundle`; a sample is spawned as the CLI.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BASE = join(repoRoot, 'test/fixtures/sigstore-conformance/bundle-verify');
const CLI = join(repoRoot, 'dist/cli.js');
const IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

/** Cases whose verdict cannot be right here, with why. None today; keep the README's table in step. */
const CANNOT_BE_RIGHT: Record<string, string> = {};

interface Case {
  name: string;
  expected: 'pass' | 'fail';
  bundle: string;
  artifact: string;
  key?: string;
  identity: string;
  issuer: string;
  trustedRoot?: string;
}

function readCase(name: string): Case {
  const dir = join(BASE, name);
  const has = (f: string) => existsSync(join(dir, f));
  const text = (f: string) => readFileSync(join(dir, f), 'utf8').trim();
  return {
    name,
    expected: name.endsWith('_fail') ? 'fail' : 'pass',
    bundle: join(dir, 'bundle.sigstore.json'),
    artifact: has('artifact') ? join(dir, 'artifact') : join(BASE, 'a.txt'),
    ...(has('key.pub') && { key: join(dir, 'key.pub') }),
    identity: has('identity') ? text('identity') : IDENTITY,
    issuer: has('issuer') ? text('issuer') : ISSUER,
    ...(has('trusted_root.json') && { trustedRoot: join(dir, 'trusted_root.json') }),
  };
}

const cases = readdirSync(BASE, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => readCase(d.name));

/** As verify-bundle without --config: the public-good root shipped with portcullis, unless the case brings one. */
function verdict(c: Case, artifact: BundleArtifact): BundleVerdict {
  const trust: TrustConfig = { trustedRoot: c.trustedRoot ?? 'public-good', keys: {}, verifyTtlMs: 0 };
  const signer = c.key ? { keyPem: readFileSync(c.key, 'utf8') } : { identity: c.identity, issuer: c.issuer };
  try {
    return checkBundle({ bundle: readFileSync(c.bundle), artifact, signer, trust });
  } catch (err) {
    // Trust material that does not load (the CLI exits 2): a refusal, with the loader's reason.
    return { verified: false, reason: `TRUST: ${(err as Error).message}` };
  }
}

describe('sigstore-conformance bundle-verify cases', () => {
  it('the pinned copy holds every case', () => {
    expect(cases.length).toBe(70);
  });

  for (const c of cases) {
    for (const mode of ['path', 'digest'] as const) {
      it(`${c.name} (${mode}) → ${c.expected}`, () => {
        const bytes = readFileSync(c.artifact);
        const v = verdict(c, mode === 'path' ? { bytes } : { sha256: createHash('sha256').update(bytes).digest('hex') });
        const got = v.verified ? 'pass' : 'fail';
        const detail = v.verified ? `verified: ${v.signers.join(', ')}` : v.reason;
        if (CANNOT_BE_RIGHT[c.name]) {
          expect(got, `${c.name} is known to be wrong: ${CANNOT_BE_RIGHT[c.name]}`).not.toBe(c.expected);
          return;
        }
        expect(got, detail).toBe(c.expected);
        // A refusal always says why in our own words, never as a crash inside the verifier.
        if (!v.verified) expect(v.reason).not.toMatch(/^INTERNAL/);
      });
    }
  }

  it('refuses a certificate chain that carries the root CA certificate, as such', () => {
    const v = verdict(readCase('bundle-with-root-cert_fail'), { bytes: readFileSync(join(BASE, 'a.txt')) });
    expect(v).toMatchObject({ verified: false });
    expect((v as { reason: string }).reason).toMatch(/^CERT_CHAIN: the certificate chain carries a root CA certificate/);
  });
});

const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'verify-bundle', ...args], { timeout: 120_000, env: { ...process.env, PORTCULLIS_CONFIG: '' }, cwd: BASE });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function argsFor(c: Case, target: string): string[] {
  const who = c.key ? ['--key', c.key] : ['--certificate-identity', c.identity, '--certificate-oidc-issuer', c.issuer];
  return ['--bundle', c.bundle, ...who, ...(c.trustedRoot ? ['--trusted-root', c.trustedRoot] : []), target];
}

describe.skipIf(!existsSync(CLI))('portcullis verify-bundle, spawned as the conformance runner does', () => {
  const digestOf = (c: Case) => `sha256:${createHash('sha256').update(readFileSync(c.artifact)).digest('hex')}`;
  const sample: Array<[string, (c: Case) => string]> = [
    ['happy-path-v0.3', (c) => c.artifact],
    ['rekor2-dsse-happy-path', digestOf],
    ['managed-key-happy-path', (c) => c.artifact],
    ['bundle-with-root-cert_fail', (c) => c.artifact],
    ['rekor2-no-timestamp_fail', digestOf],
  ];

  it('exits 0 for the cases that verify and non-zero with the reason for those that do not', async () => {
    const results = await Promise.all(sample.map(async ([name, target]) => ({ c: readCase(name), r: await cli(argsFor(readCase(name), target(readCase(name)))) })));
    for (const { c, r } of results) {
      if (c.expected === 'pass') {
        expect(r.code, `${c.name}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/^verified: signed by /);
      } else {
        expect(r.code, c.name).toBe(3);
        expect(r.stderr).toMatch(/^portcullis: the bundle does not verify: [A-Z_]+: /);
      }
    }
    const byName = Object.fromEntries(results.map(({ c, r }) => [c.name, r]));
    expect(byName['rekor2-no-timestamp_fail']!.stderr).toContain('carries no signed time');
    expect(byName['bundle-with-root-cert_fail']!.stderr).toContain('root CA certificate');
  }, 240_000);

  it('answers --help and refuses options it cannot honour, with exit 2', async () => {
    const [help, staging, both, none] = await Promise.all([
      cli(['--help']),
      cli(['--staging', ...argsFor(readCase('happy-path-v0.3'), 'a.txt')]),
      cli(['--bundle', 'x', '--key', 'k', '--certificate-identity', 'i', '--certificate-oidc-issuer', 'o', 'a.txt']),
      cli(['--bundle', 'happy-path-v0.3/bundle.sigstore.json', 'a.txt']),
    ]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--certificate-identity ID --certificate-oidc-issuer ISSUER | --key FILE');
    expect(staging).toMatchObject({ code: 2 });
    expect(staging.stderr).toContain('--staging');
    expect(both).toMatchObject({ code: 2 });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--certificate-identity and --certificate-oidc-issuer, or --key');
  }, 240_000);

  it("uses the config file's trust roots, every one of them, and --trusted-root replaces them", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verify-bundle-'));
    try {
      const c = readCase('rekor2-happy-path');
      const config = join(dir, 'portcullis.json');
      writeFileSync(config, JSON.stringify(baseConfig({ trust: { trustedRoot: 'public-good', roots: { staging: c.trustedRoot }, keys: {} } })));
      const who = ['--certificate-identity', c.identity, '--certificate-oidc-issuer', c.issuer];
      const other = readCase('intoto-with-custom-trust-root').trustedRoot!;
      const [configured, replaced] = await Promise.all([
        cli(['--bundle', c.bundle, ...who, '--config', config, c.artifact]),
        cli(['--bundle', c.bundle, ...who, '--config', config, '--trusted-root', other, c.artifact]),
      ]);
      expect(configured.code, configured.stderr).toBe(0);
      expect(configured.stdout).toContain('root staging');
      expect(replaced.code).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
