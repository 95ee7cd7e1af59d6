import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { createNotationCa, NOTATION, notationReferrer, signCose, signJws, writeTrustStore, type NotationLeaf } from '../helpers/pki/notation.js';
import { artifact, cosignTag, MT, type Descriptor, type OciArtifact } from '../helpers/pki/oci.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { createTestTsa } from '../helpers/pki/tsa.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Notation (Notary Project) signatures as OCI referrers, pushed to a real registry (which has no referrers API,
 * so they are listed by the `sha256-<hex>` tag schema, as notation does there) and judged through the proxy.
 */
const ADMIN = 'admin-token-for-notation-tests';
const DAY = 86_400_000;
const STAMPED_RULE = {
  name: 'notation-stamped',
  match: [`${UPSTREAM}/notation/stamped-ok`],
  mode: 'enforce',
  signatures: { anyOf: [{ notation: { trustStores: ['ca:acme'], trustedIdentities: ['*'], tsa: ['tsa:corp'] } }] },
};
const RULE = {
  name: 'notation',
  match: [`${UPSTREAM}/notation/*`],
  mode: 'enforce',
  signatures: { anyOf: [{ notation: { trustStores: ['ca:acme'], trustedIdentities: ['x509.subject: C=US, O=Acme, CN=release'] } }] },
};

describe.skipIf(!haveTools(['docker-registry']))('Notation signatures through the proxy', () => {
  let registry: Registry;
  let proxy: Proxy;
  let release: NotationLeaf;
  const images: Record<string, PushedImage> = {};

  const manifest = (repo: string, ref: string) => fetch(`${proxy.url}/v2/${UPSTREAM}/notation/${repo}/manifests/${ref}`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  const api = (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${proxy.url}/api/v1${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  const push = async (a: OciArtifact, repo: string) => {
    for (const b of a.blobs) await pushBlob(registry.url, repo, b);
    await pushManifest(registry.url, repo, a.tag ?? a.digest, a.manifest, a.mediaType);
  };
  const subjectOf = (image: PushedImage): Descriptor => ({ mediaType: image.mediaType, digest: image.digest, size: image.size });

  /** Pushes an image and its signatures, listed in order in the referrers tag-schema index. */
  async function signed(repo: string, envelopes: Array<(subject: Descriptor) => { bytes: Buffer; type: string; form?: 'config' }>): Promise<void> {
    const path = `notation/${repo}`;
    const image = await pushImage(registry.url, path, '1');
    images[repo] = image;
    const referrers = envelopes.map((make) => {
      const e = make(subjectOf(image));
      return notationReferrer(subjectOf(image), e.bytes, e.type, e.form ?? 'artifactType');
    });
    for (const r of referrers) await push(r, path);
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      // The older form (no artifactType) is listed as some registries and clients list it: without one.
      manifests: referrers.map((r) => {
        const typed = (JSON.parse(r.manifest.toString()) as { artifactType?: string }).artifactType;
        return { mediaType: r.mediaType, digest: r.digest, size: r.manifest.length, ...(typed ? { artifactType: typed } : {}) };
      }),
    };
    await push(artifact(index, MT.ociIndex, [], cosignTag(image.digest)), path);
  }

  const denial = async (repo: string): Promise<string> => {
    const res = await manifest(repo, '1');
    const text = await res.text();
    expect(res.status, text).toBe(403);
    return (JSON.parse(text) as { errors: Array<{ message: string }> }).errors[0]!.message;
  };

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const dataDir = await tempDir('proxy');
    const ca = createNotationCa();
    const stranger = createNotationCa({ C: 'US', ST: 'CA', O: 'Stranger', CN: 'Stranger Root' });
    const storeDir = join(dataDir, 'notation');
    mkdirSync(storeDir);
    writeTrustStore(storeDir, 'ca', 'acme', [ca.pem]);
    const tsa = createTestTsa();
    writeTrustStore(storeDir, 'tsa', 'corp', [tsa.root.pem]);
    release = ca.issue({ subject: { C: 'US', ST: 'WA', O: 'Acme', CN: 'release' } });
    const rsaRelease = ca.issue({ subject: { C: 'US', ST: 'WA', O: 'Acme', CN: 'release' }, algorithm: 'rsa-2048' });
    const intern = ca.issue({ subject: { C: 'US', ST: 'WA', O: 'Acme', CN: 'intern' } });
    const expired = ca.issue({ notBefore: new Date(Date.now() - 60 * DAY), notAfter: new Date(Date.now() - DAY) });
    const jws = (signer: NotationLeaf, extra = {}) => (s: Descriptor) => ({ bytes: signJws({ signer, target: s, ...extra }), type: NOTATION.jws });
    const cose = (signer: NotationLeaf) => (s: Descriptor) => ({ bytes: signCose({ signer, target: s }), type: NOTATION.cose, form: 'config' as const });

    await signed('jws', [jws(release)]);
    await signed('jws-rsa', [jws(rsaRelease)]);
    await signed('cose', [cose(release)]);
    await signed('second-passes', [jws(intern), jws(release)]);
    await signed('wrong-identity', [jws(intern)]);
    await signed('untrusted', [jws(stranger.issue())]);
    await signed('critical', [jws(release, { extraCritical: { 'io.cncf.notary.verificationPlugin': 'com.example' } })]);
    await signed('expired-cert', [jws(expired)]);
    await signed('other-digest', [() => ({ bytes: signJws({ signer: release, target: subjectOf(images.jws!) }), type: NOTATION.jws })]);
    await signed('malformed', [() => ({ bytes: Buffer.from('{"payload": "e30", "protected": 7}'), type: NOTATION.jws })]);
    await pushImage(registry.url, 'notation/unsigned', '1');
    // Signed ten days ago, stamped then by the TSA; the certificate has expired since.
    const signedAt = new Date(Date.now() - 10 * DAY);
    const stamped = (s: Descriptor) => ({ bytes: signJws({ signer: expired, target: s, signingTime: signedAt, timestamp: (sig) => tsa.timestamp(sig, signedAt) }), type: NOTATION.jws });
    await signed('stamped-ok', [stamped]);
    await signed('stamped-no-tsa-rule', [stamped]);

    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [STAMPED_RULE, RULE],
      dataDir,
      extra: {
        trust: { notation: { trustStoreDir: storeDir } },
        auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN).digest('hex') }] },
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('serves images signed by a trusted identity in JWS (ECDSA and RSA-PSS) and COSE envelopes, in both manifest forms', async () => {
    for (const repo of ['jws', 'jws-rsa', 'cose', 'second-passes']) {
      const res = await manifest(repo, '1');
      expect(res.status, `${repo}: ${await res.clone().text()}`).toBe(200);
      await res.arrayBuffer();
    }
    expect(await denial('unsigned')).toMatch(/no signature by Notation signer C=US, O=Acme, CN=release \(trust store ca:acme\)/);
  });

  it('serves a certificate expired since signing only under a rule that names the TSA store that stamped it', async () => {
    const res = await manifest('stamped-ok', '1');
    expect(res.status, await res.clone().text()).toBe(200);
    await res.arrayBuffer();
    expect(await denial('stamped-no-tsa-rule')).toMatch(/verified signers: Notation signer C=US, ST=WA, O=Acme, CN=release \(sha256 [0-9a-f]{16}…, trust store ca:acme, timestamp tsa:corp\)/);
  });

  it('denies with the reason each failing signature gives', async () => {
    expect(await denial('wrong-identity')).toMatch(/verified signers: Notation signer C=US, ST=WA, O=Acme, CN=intern/);
    expect(await denial('untrusted')).toMatch(/CERT_CHAIN: the certificate chain leads to no ca trust store/);
    expect(await denial('critical')).toMatch(/UNSUPPORTED: unknown critical header "io.cncf.notary.verificationPlugin"/);
    expect(await denial('expired-cert')).toMatch(/CERT_CHAIN: certificate .* is not valid at .* and the signature has no trusted timestamp/);
    expect(await denial('other-digest')).toMatch(new RegExp(`DIGEST_MISMATCH: the signature is for ${images.jws!.digest}`));
    expect(await denial('malformed')).toMatch(/MALFORMED: JWS envelope is not in flattened JSON serialization/);
  });

  it('records the Notation signer in the audit log and answers policy evaluation with it', async () => {
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND digest = ?", images.jws!.digest);
    expect(rows.length).toBeGreaterThan(0);
    const evidence = JSON.parse(String((rows.at(-1) as unknown as { evidence: string }).evidence)) as { matchedSigners: Array<{ signer: { notation: Record<string, unknown> } }> };
    expect(evidence.matchedSigners[0]!.signer.notation).toMatchObject({ subject: 'C=US, ST=WA, O=Acme, CN=release', trustStores: ['ca:acme'], envelope: 'jws' });
    const res = await api('/policy/evaluate', { method: 'POST', body: { image: `${UPSTREAM}/notation/cose:1` } });
    const body = (await res.json()) as { decision: string; evidence: { matchedSigners: Array<{ signer: { notation: { envelope: string } } }> } };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.decision).toBe('allow');
    expect(body.evidence.matchedSigners[0]!.signer.notation.envelope).toBe('cose');
  });

  it('denies a revoked signer by its certificate fingerprint, as keys are revoked', async () => {
    const fingerprint = createHash('sha256').update(release.der).digest('hex');
    const bad = await api('/trust/revocations', { method: 'POST', body: { notation: { fingerprint: 'abc' }, reason: 'x' } });
    expect(bad.status).toBe(400);
    const colons = fingerprint.toUpperCase().match(/../g)!.join(':');
    const res = await api('/trust/revocations', { method: 'POST', body: { notation: { fingerprint: colons }, reason: 'release key leaked' } });
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as { signer: unknown; impact: { wouldBeDenied: Array<{ digest: string }>; stillServed: Array<{ digest: string }> } };
    expect(created.signer).toEqual({ notation: { fingerprint } });
    // The impact report finds the pulls served on this certificate; none had another signer the rule trusts.
    const served = [images.jws!.digest, images.cose!.digest, images['second-passes']!.digest].sort();
    expect(created.impact.wouldBeDenied.map((i) => i.digest).sort()).toEqual(served);
    expect(created.impact.stillServed.map((i) => i.digest)).toEqual([]);
    const byPrint = await api(`/audit/events?signer=${colons}&kind=pull.manifest&limit=100`);
    const events = ((await byPrint.json()) as { events: Array<{ digest: string }> }).events;
    expect([...new Set(events.map((e) => e.digest))].sort()).toEqual(served);
    expect(await denial('jws')).toMatch(/revoked: signer Notation certificate sha256 [0-9a-f]{64} revoked .*release key leaked/);
    // Another certificate with the same subject is not revoked.
    expect((await manifest('jws-rsa', '1')).status).toBe(200);
  });
});
