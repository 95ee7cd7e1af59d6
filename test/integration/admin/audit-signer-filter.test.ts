import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { useBackends } from '../../helpers/backends.js';
import { cosignManifest, createAttestationLayer, createTestPki, generateKey, type Signer, type TestKey, type TestRekor } from '../../helpers/pki/index.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../../helpers/registry.js';
import { haveTools } from '../../helpers/tools.js';
import { baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';

/**
 * `GET /api/v1/audit/events?signer=…` ("which pulls relied on this signer"), on each database backend:
 * images in a real distribution registry with more attestations than the evidence summary lists, whose
 * scans are signed by a key or a keyless identity; and the filter's input.
 */
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const SPDX = 'https://spdx.dev/Document';
const UP = 'upstream.test';
const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';
const GITHUB = 'https://token.actions.githubusercontent.com';
const SCAN = 'https://github.com/acme/app/.github/workflows/scan.yml@refs/heads/main';

const trivyLowOnly = () => {
  const r = JSON.parse(readFileSync(join(__dirname, '../../fixtures/vuln', 'trivy-debian-buster.json'), 'utf8'));
  r.Results[0].Vulnerabilities = r.Results[0].Vulnerabilities.filter((v: { Severity: string }) => v.Severity !== 'CRITICAL');
  return r;
};
const scanPredicate = (uri: string) => {
  const at = new Date(Date.now() - 3_600_000).toISOString();
  return { invocation: { uri: 'https://ci.example/run/1' }, scanner: { uri, version: '0.58.0', result: trivyLowOnly() }, metadata: { scanStartedOn: at, scanFinishedOn: at } };
};
const sbom = (n: number) => ({ spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', name: `acme/app-${n}`, packages: [] });

const backends = useBackends();

describe.skipIf(!haveTools(['docker-registry'])).each(backends.names)('audit events by signer (%s)', (backend) => {
  let registry: Registry;
  let ws: Workspace;
  let app: App;
  let release: TestKey;
  let scanner: TestKey;
  let sbomKey: TestKey;
  let acme: TestKey;

  async function image(repo: string, atts: Array<{ predicateType: string; predicate: unknown; signer: Signer }>, rekor?: TestRekor): Promise<void> {
    const pushed = await pushImage(registry.url, repo, '1', { layers: 1 });
    const layers = atts.map((a) => createAttestationLayer({ digest: pushed.digest, ...a, rekor }));
    const artifact = cosignManifest(pushed.digest, layers, 'att');
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }
  const sboms = (n: number) => Array.from({ length: n }, (_, i) => ({ predicateType: SPDX, predicate: sbom(i), signer: release }));
  const events = async (query: string) => {
    const res = await request(app.express).get(`/api/v1/audit/events?kind=pull.manifest&limit=1000&${query}`).set('Authorization', bearer('audrey'));
    expect(res.status, res.text).toBe(200);
    return [...new Set((res.body.events as Array<{ repository: string }>).map((e) => e.repository.slice(UP.length + 1)))].sort();
  };

  beforeAll(async () => {
    registry = await startRegistry();
    [release, scanner, sbomKey, acme] = [generateKey('ecdsa-p256'), generateKey('ecdsa-p256'), generateKey('ecdsa-p256'), generateKey('ecdsa-p256')];
    const pki = createTestPki();
    const keyless = pki.fulcio.issue({ uri: SCAN, issuer: GITHUB });
    // Five SBOMs first: the summary lists five attestations, and the scan and the last SBOM come after them.
    await image('acme/many', [
      ...sboms(5),
      { predicateType: VULN, predicate: scanPredicate('pkg:github/aquasecurity/trivy@v0.58.0'), signer: scanner },
      { predicateType: SPDX, predicate: sbom(9), signer: sbomKey },
    ]);
    await image('acme/keyless', [...sboms(5), { predicateType: VULN, predicate: scanPredicate('pkg:github/anchore/grype@v0.65.1'), signer: keyless }], pki.rekor);
    // Signed by the key named `acme`, a prefix of `acme-scanner`.
    await image('acme/short', [{ predicateType: VULN, predicate: scanPredicate('pkg:github/aquasecurity/trivy@v0.58.0'), signer: acme }]);

    ws = await workspace(`audit-signer-${backend}`);
    const trustedRoot = await pki.writeTrustedRoot(ws.dir);
    await ws.write(baseConfig({
      upstreams: [{ name: UP, url: registry.url }],
      database: await backends.database(backend),
      policies: [{
        name: 'acme',
        match: [`${UP}/acme/*`],
        mode: 'enforce',
        vulnerabilities: {
          scans: { signedBy: { anyOf: [{ key: 'acme-scanner' }, { key: 'acme' }, { keyless: { issuer: GITHUB, subject: SCAN } }] }, maxAge: '7d' },
          deny: { severity: 'critical' },
        },
      }],
      trust: {
        trustedRoot,
        keys: { 'acme-release': release.publicKeyPem, 'acme-scanner': scanner.publicKeyPem, 'acme-sbom': sbomKey.publicKeyPem, acme: acme.publicKeyPem },
      },
    }));
    app = await createApp(loadConfigFile(ws.configPath), { log: silentLogger });
    for (const repo of ['acme/many', 'acme/keyless', 'acme/short']) {
      const res = await request(app.express).get(`/v2/${UP}/${repo}/manifests/1`).set('Accept', ACCEPT);
      expect(res.status, `${repo}: ${res.text}`).toBe(200);
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await ws?.remove();
    await registry?.stop();
  });

  it('finds the pull whose judged scan a key signed, after five other attestations', async () => {
    expect(await events('signer=acme-scanner')).toEqual(['acme/many']);
  });

  it('finds a signer whose attestation the summary does not list', async () => {
    expect(await events('signer=acme-sbom')).toEqual(['acme/many']);
    expect(await events('signer=acme-release')).toEqual(['acme/keyless', 'acme/many']);
  });

  it('finds the pull whose scan a keyless identity signed, with or without its issuer', async () => {
    expect(await events(`signer=${encodeURIComponent(SCAN)}`)).toEqual(['acme/keyless']);
    expect(await events(`signer=${encodeURIComponent(SCAN)}&issuer=${encodeURIComponent(GITHUB)}`)).toEqual(['acme/keyless']);
    expect(await events(`signer=${encodeURIComponent(SCAN)}&issuer=https%3A%2F%2Fother.example`)).toEqual([]);
  });

  it('answers the same through `portcullis audit query --signer`', async () => {
    const out = await cli(['audit', 'query', '--config', ws.configPath, '--kind', 'pull.manifest', '--signer', 'acme-scanner']);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout).events.map((e: { repository: string }) => e.repository)).toEqual([`${UP}/acme/many`]);
    const bad = await cli(['audit', 'query', '--config', ws.configPath, '--signer', 'a'.repeat(513)]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/signer.*512/);
  });

  it('matches a signer whole, never as part of a longer name', async () => {
    expect(await events('signer=acme')).toEqual(['acme/short']);
    expect(await events('signer=acme-scan')).toEqual([]);
    expect(await events(`signer=${encodeURIComponent(SCAN.slice(0, -4))}`)).toEqual([]);
  });

  it('answers 400 naming the problem for a signer given twice, empty, too long or with control characters', async () => {
    const ask = (query: string) => request(app.express).get(`/api/v1/audit/events?${query}`).set('Authorization', bearer('audrey'));
    const cases: Array<[string, RegExp]> = [
      ['signer=a&signer=b', /once/],
      ['signer=', /empty/],
      [`signer=${'a'.repeat(513)}`, /512/],
      ['signer=acme%00', /control/],
      ['signer=acme&issuer=%0Ahttps://x', /control/],
    ];
    for (const [query, message] of cases) {
      const res = await ask(query);
      expect(res.status, `${query}: ${res.text}`).toBe(400);
      expect(res.text, query).toMatch(message);
    }
  });
});
