import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { cosignManifest, createSignatureArtifact, createSignatureLayer, createTestPki, generateKey, type OciArtifact, type TestKey, type TestPki } from '../helpers/pki/index.js';
import { ACCEPT_ALL_MANIFESTS, expectOciError, removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Trust that changes after the first pull, end to end: a real docker-registry upstream, skopeo pulling
 * through two worker processes. A revoked key or identity stops counting at once for images already
 * verified and cached (verifyTtl is an hour); a hotfix is served under a time-boxed exception and denied
 * again when it runs out or is revoked.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const ADMIN = 'admin-token-for-trust-tests';
const AUDITOR = 'auditor-token-for-trust-tests';
const GITHUB = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0';
const POLICIES = [
  { name: 'keyed', match: [`${UPSTREAM}/keyed/*`], mode: 'enforce', signatures: { anyOf: [{ key: 'acme-release' }, { key: 'backup' }] } },
  { name: 'keyless', match: [`${UPSTREAM}/keyless/*`], mode: 'enforce', signatures: { anyOf: [{ keyless: { issuer: GITHUB, subject: RELEASE } }] } },
  { name: 'blocked', match: [`${UPSTREAM}/blocked/*`], mode: 'deny' },
];

describe.skipIf(skip)('trust over time: revocations and exceptions', () => {
  let registry: Registry;
  let proxy: Proxy;
  let pki: TestPki;
  let acme: TestKey;
  let backup: TestKey;
  const images: Record<string, PushedImage> = {};

  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const api = (path: string, init: { method?: string; body?: unknown; token?: string } = {}) =>
    fetch(`${proxy.url}/api/v1${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${init.token ?? ADMIN}`, 'content-type': 'application/json' },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }
  const ref = (repo: string) => `${proxy.host}/${UPSTREAM}/${repo}:1`;
  /** skopeo copies the image through the proxy; resolves with the error text when refused. */
  const copy = async (repo: string): Promise<string | undefined> => {
    const err = await skopeoCopy(ref(repo), await tempDir('copy')).then(() => undefined, (e: Error) => e.message);
    return err;
  };
  /** Several separate connections, so both workers answer. */
  const statuses = async (repo: string): Promise<number[]> =>
    Promise.all(
      Array.from({ length: 6 }, async () => {
        const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/${repo}/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS, connection: 'close' } });
        await res.arrayBuffer();
        return res.status;
      }),
    );
  const rows = (where: string, ...params: unknown[]) => auditRows(join(proxy.dataDir, 'portcullis.db'), where, ...params) as unknown as Array<Record<string, unknown>>;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    pki = createTestPki();
    acme = generateKey('ecdsa-p256');
    backup = generateKey('ecdsa-p256');
    const dataDir = await tempDir('proxy');
    const trustedRoot = await pki.writeTrustedRoot(dataDir);
    const image = async (repo: string) => (images[repo] = await pushImage(registry.url, repo, '1', { layers: 1 }));
    const sign = (repo: string, signer: Parameters<typeof createSignatureArtifact>[0]['signer'], extra: Record<string, unknown> = {}) =>
      push(createSignatureArtifact({ digest: images[repo]!.digest, repository: `${UPSTREAM}/${repo}`, signer, ...extra }), repo);
    await image('keyed/app');
    await sign('keyed/app', acme);
    await image('keyed/both');
    // Two signatures in one .sig manifest, as a second `cosign sign` appends a layer.
    const both = (signer: TestKey) => createSignatureLayer({ digest: images['keyed/both']!.digest, repository: `${UPSTREAM}/keyed/both`, signer });
    await push(cosignManifest(images['keyed/both']!.digest, [both(acme), both(backup)], 'sig'), 'keyed/both');
    await image('keyless/app');
    await sign('keyless/app', pki.fulcio.issue({ uri: RELEASE, issuer: GITHUB }), { rekor: pki.rekor });
    await image('keyed/hotfix');
    await image('keyed/urgent');
    await image('blocked/app');
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir,
      extra: {
        server: { workers: 2 },
        trust: { trustedRoot, verifyTtl: '1h', keys: { 'acme-release': acme.publicKeyPem, backup: backup.publicKeyPem } },
        auth: {
          tokens: [
            { name: 'alice', role: 'admin', tokenSha256: sha(ADMIN) },
            { name: 'audrey', role: 'auditor', tokenSha256: sha(AUDITOR) },
          ],
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  describe('revocations', () => {
    it('denies an image verified and cached on a revoked key at once, reports who pulled it, and survives a restart', async () => {
      expect(await copy('keyed/app')).toBeUndefined();
      expect(await copy('keyed/both')).toBeUndefined();
      expect(await statuses('keyed/app')).toEqual([200, 200, 200, 200, 200, 200]);

      // An auditor may read revocations but not create one.
      expect((await api('/trust/revocations', { method: 'POST', token: AUDITOR, body: { key: 'acme-release', reason: 'x' } })).status).toBe(403);
      expect((await api('/trust/revocations', { method: 'POST', body: { key: 'nope', reason: 'x' } })).status).toBe(400);

      // A dry run shows the impact, names the revocation as proposed, and revokes nothing.
      const preview = await api('/trust/revocations?dryRun=true', { method: 'POST', body: { key: 'acme-release', reason: 'key leaked in INC-77' } });
      expect(preview.status).toBe(200);
      const previewed = (await preview.json()) as { dryRun: boolean; impact: { admitted: number; wouldBeDenied: Array<{ digest: string; reasons: string[] }> } };
      expect(previewed.dryRun).toBe(true);
      expect(previewed.impact.admitted).toBe(2);
      expect(previewed.impact.wouldBeDenied.map((i) => i.digest)).toEqual([images['keyed/app']!.digest]);
      expect(previewed.impact.wouldBeDenied[0]!.reasons.join('\n')).toContain('(the proposed revocation: key leaked in INC-77)');
      expect(((await (await api('/trust/revocations', { token: AUDITOR })).json()) as { revocations: unknown[] }).revocations).toEqual([]);
      expect(await statuses('keyed/app')).toEqual([200, 200, 200, 200, 200, 200]);
      expect((await api('/trust/revocations?dryRun=yes', { method: 'POST', body: { key: 'acme-release', reason: 'x' } })).status).toBe(400);

      const res = await api('/trust/revocations', { method: 'POST', body: { key: 'acme-release', reason: 'key leaked in INC-77' } });
      expect(res.status).toBe(201);
      const revocation = (await res.json()) as {
        id: number;
        impact: { admitted: number; wouldBeDenied: Array<{ repository: string; digest: string; pullCount: number; reasons: string[]; pulls: Array<{ client: string; time: string }> }>; stillServed: Array<{ digest: string }> };
      };
      expect(revocation.impact.admitted).toBe(2);
      expect(revocation.impact.wouldBeDenied.map((i) => i.digest)).toEqual([images['keyed/app']!.digest]);
      expect(revocation.impact.wouldBeDenied[0]!.pullCount).toBeGreaterThanOrEqual(7);
      expect(revocation.impact.wouldBeDenied[0]!.pulls[0]!.client).toMatch(/127\.0\.0\.1/);
      // The reasons name the revocation as a pull will, by its id.
      expect(revocation.impact.wouldBeDenied[0]!.reasons.join('\n')).toContain(`(revocation ${revocation.id}: key leaked in INC-77)`);
      expect(revocation.impact.stillServed.map((i) => i.digest)).toEqual([images['keyed/both']!.digest]);

      // No wait for verifyTtl (an hour), on every worker: the cached evidence no longer counts.
      expect(await statuses('keyed/app')).toEqual([403, 403, 403, 403, 403, 403]);
      const refused = await copy('keyed/app');
      // The reason leads with the revocation: what, when and why, then what the rule missed.
      expect(refused).toMatch(/denied: portcullis: policy \\?"keyed\\?": revoked: signer key \\?"acme-release\\?" revoked at \S+ \(key leaked in INC-77\) — no signature by key/);
      expect(refused).toMatch(/revoked \(revocation \d+: key leaked in INC-77\)/);
      // Still signed by the other trusted key.
      expect(await copy('keyed/both')).toBeUndefined();

      // The audit log answers the same question later, by signer, for an auditor.
      const byKey = (await (await api('/audit/events?signer=acme-release&limit=1000', { token: AUDITOR })).json()) as { events: Array<{ kind: string; digest: string | null }> };
      expect(byKey.events.some((e) => e.kind === 'trust.revoke')).toBe(true);
      expect(new Set(byKey.events.filter((e) => e.kind === 'pull.manifest').map((e) => e.digest))).toEqual(
        new Set([images['keyed/app']!.digest, images['keyed/both']!.digest]),
      );

      await proxy.restart();
      expect(await statuses('keyed/app')).toEqual([403, 403, 403, 403, 403, 403]);
      const listed = (await (await api('/trust/revocations', { token: AUDITOR })).json()) as { revocations: Array<{ id: number; active: boolean }> };
      expect(listed.revocations).toEqual([expect.objectContaining({ id: revocation.id, active: true })]);

      expect((await api(`/trust/revocations/${revocation.id}`, { method: 'DELETE' })).status).toBe(200);
      expect(await statuses('keyed/app')).toEqual([200, 200, 200, 200, 200, 200]);
      expect(rows("kind IN ('trust.revoke', 'trust.revocation.lift')").map((r) => r.user)).toEqual(['alice', 'alice']);
    }, 120_000);

    it('revokes one keyless identity, and one transparency-log entry', async () => {
      expect(await copy('keyless/app')).toBeUndefined();
      const revoke = async (body: unknown) => {
        const res = await api('/trust/revocations', { method: 'POST', body });
        expect(res.status).toBe(201);
        return (await res.json()) as { id: number; impact: { wouldBeDenied: Array<{ digest: string }> } };
      };
      const identity = await revoke({ keyless: { issuer: GITHUB, subject: RELEASE }, reason: 'workflow compromised' });
      expect(identity.impact.wouldBeDenied.map((i) => i.digest)).toEqual([images['keyless/app']!.digest]);
      expect(await statuses('keyless/app')).toEqual([403, 403, 403, 403, 403, 403]);
      expect((await api(`/trust/revocations/${identity.id}`, { method: 'DELETE' })).status).toBe(200);
      expect(await copy('keyless/app')).toBeUndefined();

      const served = rows("kind = 'pull.manifest' AND repository = ? AND decision = 'allow'", `${UPSTREAM}/keyless/app`).at(-1)!;
      const logIndex = (JSON.parse(String(served.evidence)) as { matchedSigners: Array<{ tlog: { logIndex: number } }> }).matchedSigners[0]!.tlog.logIndex;
      const entry = await revoke({ logIndex, reason: 'entry for a stolen certificate' });
      expect(entry.impact.wouldBeDenied.map((i) => i.digest)).toEqual([images['keyless/app']!.digest]);
      expect(await copy('keyless/app')).toMatch(/transparency log entry \d+ is revoked/);
      expect((await api(`/trust/revocations/${entry.id}`, { method: 'DELETE' })).status).toBe(200);
    }, 120_000);
  });

  describe('exceptions', () => {
    it('serves a hotfix under a time-boxed exception, records it on every pull, and denies it again once it expires', async () => {
      expect(await copy('keyed/hotfix')).toMatch(/no signature by key/);
      const digest = images['keyed/hotfix']!.digest;
      const until = new Date(Date.now() + 6_000).toISOString();
      const res = await api('/exceptions', { method: 'POST', body: { match: `${UPSTREAM}/keyed/hotfix@${digest}`, until, reason: 'INC-1234 hotfix' } });
      expect(res.status).toBe(201);
      const exception = (await res.json()) as { id: number; state: string };
      expect(exception.state).toBe('active');

      expect(await copy('keyed/hotfix')).toBeUndefined();
      expect(await statuses('keyed/hotfix')).toEqual([200, 200, 200, 200, 200, 200]);
      const served = rows("kind = 'pull.manifest' AND repository = ? AND status = 200", `${UPSTREAM}/keyed/hotfix`);
      expect(served.length).toBeGreaterThanOrEqual(7);
      for (const row of served) {
        expect(row.decision).toBe('allow');
        expect(JSON.parse(String(row.reasons)).join(' ')).toMatch(/no signature by key/);
        expect(JSON.parse(String(row.evidence)).exception).toMatchObject({ id: exception.id, reason: 'INC-1234 hotfix' });
      }

      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(until) - Date.now()) + 1500));
      expect(await statuses('keyed/hotfix')).toEqual([403, 403, 403, 403, 403, 403]);
      expect(await copy('keyed/hotfix')).toMatch(/no signature by key/);
      expect(rows("kind = 'exception.expire'").map((r) => JSON.parse(String(r.evidence)).exception)).toEqual([exception.id]);
      const listed = (await (await api('/exceptions', { token: AUDITOR })).json()) as { exceptions: Array<{ id: number; state: string }> };
      expect(listed.exceptions.find((e) => e.id === exception.id)!.state).toBe('expired');
    }, 120_000);

    it('stops at once when revoked, refuses more than 30 days, and covers a deny rule only when it says so', async () => {
      const created = await api('/exceptions', { method: 'POST', body: { match: `${UPSTREAM}/keyed/urgent`, until: '4h', reason: 'INC-9 rollout' } });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: number };
      expect(await statuses('keyed/urgent')).toEqual([200, 200, 200, 200, 200, 200]);
      expect((await api(`/exceptions/${id}`, { method: 'DELETE' })).status).toBe(200);
      expect(await statuses('keyed/urgent')).toEqual([403, 403, 403, 403, 403, 403]);
      expect(rows("kind = 'exception.revoke'").map((r) => r.user)).toEqual(['alice']);

      const tooLong = await api('/exceptions', { method: 'POST', body: { match: `${UPSTREAM}/keyed/urgent`, until: '31d', reason: 'x' } });
      expect(tooLong.status).toBe(400);
      expect(await tooLong.text()).toMatch(/at most 30d from now/);

      const plain = await api('/exceptions', { method: 'POST', body: { match: `${UPSTREAM}/blocked/app`, until: '1h', reason: 'not enough' } });
      expect(plain.status).toBe(201);
      await expectOciError(await fetch(`${proxy.url}/v2/${UPSTREAM}/blocked/app/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } }), 403, 'DENIED');
      const explicit = await api('/exceptions', { method: 'POST', body: { match: `${UPSTREAM}/blocked/app`, until: '1h', reason: 'vendor audit', coverDenyRule: true } });
      expect(explicit.status).toBe(201);
      expect(await copy('blocked/app')).toBeUndefined();
    }, 120_000);
  });
});
