import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import {
  buildTrustedRoot,
  createAttestationReferrer,
  createSignatureReferrer,
  createTestPki,
  createTestRekorV2,
  createTestTsa,
  generateKey,
  referrersTagIndex,
  type BundleOptions,
  type OciArtifact,
  type TestPki,
  type TestRekor,
  type TestRekorV2,
  type TestTsa,
} from '../helpers/pki/index.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * cosign v3's defaults end to end: `cosign sign` and `cosign attest` store Sigstore bundles as OCI 1.1
 * referrers and log them in a Rekor v2 log (`hashedrekord` 0.0.2 over the DSSE pre-authentication
 * encoding, or `dsse` 0.0.2), which gives an inclusion proof and a signed checkpoint but no time; the time
 * comes from an RFC 3161 timestamp. Pushed into a real distribution registry and pulled through the proxy
 * with skopeo. A bundle without a timestamp, one stamped by an authority outside the validity window its
 * root gives it, and one whose checkpoint another key signed are refused, each with its reason.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const ISSUER = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const keyless = { keyless: { issuer: ISSUER, subject: WORKFLOW } };
const POLICIES = [
  { name: 'signed', match: [`${UPSTREAM}/signed/*`], mode: 'enforce', signatures: { anyOf: [keyless] } },
  { name: 'attested', match: [`${UPSTREAM}/attested/*`], mode: 'enforce', provenance: { signedBy: { anyOf: [keyless] } } },
];
const DAY_MS = 86400_000;

describe.skipIf(skip)('Rekor v2 and RFC 3161 timestamps (cosign v3 defaults) through the proxy', () => {
  let registry: Registry;
  let proxy: Proxy;
  let pki: TestPki;
  let log: TestRekorV2;
  let tsa: TestTsa;
  let retiredTsa: TestTsa;

  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }

  /** An image with one bundle referrer, made as `make` says. */
  async function referred(repo: string, make: (opts: BundleOptions) => OciArtifact & { descriptor: unknown }, extra: Partial<BundleOptions>): Promise<void> {
    const image = await pushImage(registry.url, repo, '1', { layers: 1 });
    const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const referrer = make({ subject, signer: pki.fulcio.issue({ uri: WORKFLOW, issuer: ISSUER }), ...extra }) as ReturnType<typeof createSignatureReferrer>;
    await push(referrer, repo);
    await push(referrersTagIndex(image.digest, [referrer]), repo);
  }

  const pull = async (repo: string) =>
    skopeoCopy(`${proxy.host}/${UPSTREAM}/${repo}:1`, await tempDir('copy')).then(
      () => 'served',
      (e: Error) => e.message.replace(/\\"/g, '"'),
    );
  const evidenceOf = (repo: string) => {
    const row = auditRows(join(proxy.dataDir, 'portcullis.db'), "repository = ? AND kind = 'pull.manifest'", `${UPSTREAM}/${repo}`).at(-1)!;
    return { decision: row.decision, evidence: String(row.evidence) };
  };

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    pki = createTestPki();
    log = createTestRekorV2();
    tsa = createTestTsa({ commonName: 'portcullis-test-tsa' });
    retiredTsa = createTestTsa({ commonName: 'retired-tsa' });
    // The root lists the Rekor v1 log, the Rekor v2 log and two authorities; the second one's window ended yesterday.
    const root = buildTrustedRoot({ fulcio: [pki.fulcio], rekor: [pki.rekor, log as unknown as TestRekor], ctLogs: [pki.ctLog], tsas: [tsa, retiredTsa] });
    const authorities = root.timestampAuthorities as Array<{ validFor: Record<string, string> }>;
    authorities[1]!.validFor = { start: new Date(Date.now() - 30 * DAY_MS).toISOString(), end: new Date(Date.now() - DAY_MS).toISOString() };
    const dataDir = await tempDir('proxy');
    const trustedRoot = join(dataDir, 'trusted_root.json');
    await writeFile(trustedRoot, JSON.stringify(root));

    await referred('signed/hashedrekord', createSignatureReferrer, { rekorV2: { log }, tsa });
    await referred('attested/dsse', createAttestationReferrer, { rekorV2: { log, kind: 'dsse' }, tsa });
    await referred('attested/hashedrekord', createAttestationReferrer, { rekorV2: { log }, tsa });
    await referred('signed/no-timestamp', createSignatureReferrer, { rekorV2: { log } });
    await referred('signed/retired-tsa', createSignatureReferrer, { rekorV2: { log }, tsa: retiredTsa });
    await referred('signed/wrong-checkpoint-key', createSignatureReferrer, { rekorV2: { log, checkpointKey: generateKey('ed25519') }, tsa });
    proxy = await startProxy({ upstreams: [{ name: UPSTREAM, url: registry.url }], policies: POLICIES, dataDir, extra: { trust: { trustedRoot } } });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('serves an image signed the cosign v3 way: hashedrekord 0.0.2 over the DSSE envelope, with a TSA timestamp', async () => {
    expect(await pull('signed/hashedrekord')).toBe('served');
    const { decision, evidence } = evidenceOf('signed/hashedrekord');
    expect(decision).toBe('allow');
    expect(evidence).toContain(WORKFLOW);
  });

  it('serves images attested with dsse 0.0.2 and with hashedrekord 0.0.2 entries', async () => {
    expect(await pull('attested/dsse')).toBe('served');
    expect(await pull('attested/hashedrekord')).toBe('served');
  });

  it('refuses a Rekor v2 entry without a timestamp, saying so', async () => {
    expect(await pull('signed/no-timestamp')).toContain('denied: portcullis: policy "signed"');
    const { decision, evidence } = evidenceOf('signed/no-timestamp');
    expect(decision).toBe('deny');
    expect(evidence).toContain('TIMESTAMP: the transparency log entry carries no signed time (a Rekor v2 entry never does) and the bundle has no RFC 3161 timestamp');
  });

  it('refuses a timestamp from an authority outside the validity window its root gives it', async () => {
    expect(await pull('signed/retired-tsa')).toContain('denied: portcullis: policy "signed"');
    const { decision, evidence } = evidenceOf('signed/retired-tsa');
    expect(decision).toBe('deny');
    expect(evidence).toMatch(/TIMESTAMP: timestamp could not be verified/);
  });

  it('refuses a checkpoint signed by a key other than the log’s', async () => {
    expect(await pull('signed/wrong-checkpoint-key')).toContain('denied: portcullis: policy "signed"');
    const { decision, evidence } = evidenceOf('signed/wrong-checkpoint-key');
    expect(decision).toBe('deny');
    expect(evidence).toContain('UNTRUSTED_TLOG: invalid checkpoint signature');
  });
});
