import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { readCopiedImage, skopeoCopy } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushBlob, pushImage, pushManifest, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { createSignatureArtifact, generateKey, type OciArtifact, type TestKey } from '../helpers/pki/index.js';
import { removeTempDirs, tempDir } from './support.js';

/**
 * A tag re-pointed upstream after the proxy verified it: a real docker-registry behind two upstream names
 * (one `keep-verified`, one `deny`), skopeo pulling through two worker processes. Pushing over the tag is
 * what a compromised publisher account or a mistaken CI job does.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const ADMIN = 'admin-token-for-tag-drift';
const AUDITOR = 'auditor-token-for-tag-drift';
const KEEP = 'keep.test';
const DENY = 'deny.test';

describe.skipIf(skip)('tag drift', () => {
  let registry: Registry;
  let proxy: Proxy;
  let acme: TestKey;

  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const rows = (where: string, ...params: unknown[]) => auditRows(join(proxy.dataDir, 'portcullis.db'), where, ...params) as unknown as Array<Record<string, unknown>>;
  async function push(artifact: OciArtifact, repo: string): Promise<void> {
    for (const blob of artifact.blobs) await pushBlob(registry.url, repo, blob);
    await pushManifest(registry.url, repo, artifact.tag ?? artifact.digest, artifact.manifest, artifact.mediaType);
  }
  /** Pushes a new image over tag 1, signed by acme for `upstream` when asked. */
  async function release(upstream: string, repo: string, signed: boolean): Promise<PushedImage> {
    const image = await pushImage(registry.url, repo, '1', { layers: 1 });
    if (signed) await push(createSignatureArtifact({ digest: image.digest, repository: `${upstream}/${repo}`, signer: acme }), repo);
    return image;
  }
  /** skopeo copies tag 1 through the proxy: the digest it got, or the error text. */
  async function copy(upstream: string, repo: string): Promise<{ digest?: string; error?: string }> {
    const dir = await tempDir('copy');
    try {
      await skopeoCopy(`${proxy.host}/${upstream}/${repo}:1`, dir);
    } catch (err) {
      return { error: (err as Error).message };
    }
    return { digest: (await readCopiedImage(dir)).manifestDigest };
  }
  const tagTtlPassed = () => new Promise((r) => setTimeout(r, 1200));
  const accept = (body: unknown, token = ADMIN) =>
    fetch(`${proxy.url}/api/v1/tags/accept`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    acme = generateKey('ecdsa-p256');
    const signed = { signatures: { anyOf: [{ key: 'acme' }] } };
    proxy = await startProxy({
      upstreams: [
        { name: KEEP, url: registry.url, tagTtl: '1s', tagDrift: 'keep-verified' },
        { name: DENY, url: registry.url, tagTtl: '1s', tagDrift: 'deny' },
      ],
      policies: [{ name: 'signed', match: ['**'], mode: 'enforce', ...signed }],
      extra: {
        server: { workers: 2 },
        trust: { trustedRoot: 'public-good', keys: { acme: acme.publicKeyPem } },
        auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: sha(ADMIN) }, { name: 'audrey', role: 'auditor', tokenSha256: sha(AUDITOR) }] },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('keep-verified: a tag re-pointed to an unsigned image keeps serving the verified digest, and the move is audited once', async () => {
    const good = await release(KEEP, 'org/app', true);
    expect(await copy(KEEP, 'org/app')).toEqual({ digest: good.digest });

    const bad = await release(KEEP, 'org/app', false);
    await tagTtlPassed();
    expect(await copy(KEEP, 'org/app')).toEqual({ digest: good.digest });
    expect(await copy(KEEP, 'org/app')).toEqual({ digest: good.digest });
    // The unsigned image is still refused by digest.
    const byDigest = await fetch(`${proxy.url}/v2/${KEEP}/org/app/manifests/${bad.digest}`);
    expect(byDigest.status).toBe(403);

    const drifts = rows(`kind = 'tag.drift' AND repository = ?`, `${KEEP}/org/app`);
    expect(drifts).toHaveLength(1);
    const evidence = JSON.parse(drifts[0]!.evidence as string) as Record<string, unknown>;
    expect(evidence).toMatchObject({ tag: '1', verifiedDigest: good.digest, newDigest: bad.digest, servedDigest: good.digest, tagDrift: 'keep-verified', newDecision: 'deny' });
    expect(drifts[0]!.reasons).toMatch(/moved upstream from .* to sha256:.*which fails: .*serving the verified digest/);
    const served = rows(`kind = 'pull.manifest' AND repository = ? AND reference = '1' AND status = 200`, `${KEEP}/org/app`);
    expect(served.at(-1)!.digest).toBe(good.digest);

    // A signed release over the tag passes its rule and is followed.
    const next = await release(KEEP, 'org/app', true);
    await tagTtlPassed();
    expect(await copy(KEEP, 'org/app')).toEqual({ digest: next.digest });
    expect(rows(`kind = 'tag.drift' AND repository = ?`, `${KEEP}/org/app`)).toHaveLength(2);
  }, 120_000);

  it('deny: a tag moved after it was verified is refused until an admin accepts the new digest', async () => {
    const first = await release(DENY, 'org/locked', true);
    expect(await copy(DENY, 'org/locked')).toEqual({ digest: first.digest });

    // Even a properly signed new digest is refused: nobody decided to take it.
    const moved = await release(DENY, 'org/locked', true);
    await tagTtlPassed();
    const refused = await copy(DENY, 'org/locked');
    expect(refused.error).toMatch(/moved upstream from .* refused until an admin accepts/);
    const drift = rows(`kind = 'tag.drift' AND repository = ?`, `${DENY}/org/locked`);
    expect(drift).toHaveLength(1);
    expect(drift[0]).toMatchObject({ decision: 'deny', digest: moved.digest });

    // Only an admin accepts, and only something well-formed.
    expect((await accept({ repository: `${DENY}/org/locked`, tag: '1', digest: moved.digest }, AUDITOR)).status).toBe(403);
    const bad = await accept({ repository: 'nowhere.test/org/locked', tag: '1', digest: 'latest' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: unknown[] }).errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'repository' }), expect.objectContaining({ path: 'digest' })]),
    );
    const ok = await accept({ repository: `${DENY}/org/locked`, tag: '1', digest: moved.digest });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ digest: moved.digest, acceptedBy: 'alice', previousDigest: first.digest });
    expect(rows(`kind = 'tag.accept'`)).toEqual([expect.objectContaining({ user: 'alice', digest: moved.digest, repository: `${DENY}/org/locked` })]);

    expect(await copy(DENY, 'org/locked')).toEqual({ digest: moved.digest });
  }, 120_000);
});
