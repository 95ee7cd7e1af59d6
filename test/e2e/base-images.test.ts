import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRows } from '../helpers/audit.js';
import { readCopiedImage, skopeoCopy, type SkopeoOptions } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, pushIndex, startRegistry, type PushImageOptions, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Images that were not rebuilt on their updated base: a real docker-registry upstream holding base images
 * and images built on them (with the `org.opencontainers.image.base.*` annotations buildx writes), pulled
 * with skopeo through the proxy. Moving the base tag is what ops do when they publish a patched base.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const ADMIN = 'admin-token-for-base-images';
const DAY = 86_400_000;
const daysAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString();
const BASE_NAME = 'org.opencontainers.image.base.name';
const BASE_DIGEST = 'org.opencontainers.image.base.digest';

describe.skipIf(skip)('base images', () => {
  let registry: Registry;
  let proxy: Proxy;
  const rows = (where: string, ...params: unknown[]) => auditRows(join(proxy.dataDir, 'portcullis.db'), where, ...params) as unknown as Array<Record<string, unknown>>;

  /** An image built on `base` at `digest`, as buildx annotates it. */
  const onBase = (repo: string, base: string, digest: string, more: PushImageOptions = {}) =>
    pushImage(registry.url, repo, '1', { annotations: { [BASE_NAME]: base, [BASE_DIGEST]: digest }, ...more });
  /** skopeo copies tag 1 through the proxy: the digest it got, or the error it printed. */
  async function copy(repo: string, opts: SkopeoOptions = {}): Promise<{ digest?: string; error?: string }> {
    const dir = await tempDir('copy');
    try {
      await skopeoCopy(`${proxy.host}/${UPSTREAM}/${repo}:1`, dir, opts);
    } catch (err) {
      return { error: (err as Error).message.replaceAll('\\"', '"') }; // skopeo prints quotes escaped
    }
    return { digest: (await readCopiedImage(dir)).manifestDigest };
  }
  const tagTtlPassed = () => new Promise((r) => setTimeout(r, 1200));

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    const baseImage = { maxBehindDays: 14 };
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url, tagTtl: '1s' }],
      policies: [
        // Clients may not pull the bases themselves: resolving them is the proxy's own lookup.
        { name: 'bases', match: [`${UPSTREAM}/base/**`], mode: 'deny' },
        { name: 'fresh', match: [`${UPSTREAM}/apps/**`], mode: 'enforce', baseImage },
        { name: 'fresh-warn', match: [`${UPSTREAM}/warned/**`], mode: 'warn', baseImage },
        { name: 'named', match: [`${UPSTREAM}/named/**`], mode: 'enforce', baseImage: { ...baseImage, requireAnnotation: true } },
      ],
      extra: { auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN).digest('hex') }] } },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('denies an image whose base moved to a base built more than maxBehindDays ago, and serves one on the current base', async () => {
    const base = `${UPSTREAM}/base/alpine:3`;
    const old = await pushImage(registry.url, 'base/alpine', '3', { created: daysAgo(60) });
    const current = await onBase('apps/current', base, old.digest);
    expect(await copy('apps/current')).toEqual({ digest: current.digest });

    const app = await onBase('apps/outdated', base, old.digest);
    const patched = await pushImage(registry.url, 'base/alpine', '3', { created: daysAgo(20) });
    await tagTtlPassed();
    const denied = await copy('apps/outdated');
    expect(denied.error).toContain(
      `portcullis: policy "fresh": base image ${base} moved from ${old.digest} to ${patched.digest}, built ${daysAgo(20).slice(0, 10)}, more than 14 days ago; the image was not rebuilt on its current base`,
    );
    // Rebuilt on the patched base: served.
    const rebuilt = await onBase('apps/outdated', base, patched.digest);
    await tagTtlPassed();
    expect(await copy('apps/outdated')).toEqual({ digest: rebuilt.digest });
    const deny = rows(`kind = 'pull.manifest' AND repository = ? AND digest = ? AND status = 403`, `${UPSTREAM}/apps/outdated`, app.digest);
    expect(deny).toHaveLength(1);
    expect(JSON.parse(deny[0]!.evidence as string).baseImage).toMatchObject({ name: base, digest: old.digest, currentDigest: patched.digest });
    // The base was resolved under a deny rule, and nothing of it was served or audited as a pull.
    expect(rows(`repository = ?`, `${UPSTREAM}/base/alpine`)).toEqual([]);
  });

  it('serves an image whose base moved only recently (base named by config labels)', async () => {
    const base = `${UPSTREAM}/base/debian:12`;
    const old = await pushImage(registry.url, 'base/debian', '12', { created: daysAgo(100) });
    const app = await pushImage(registry.url, 'apps/labelled', '1', { imageConfig: { Labels: { [BASE_NAME]: base, [BASE_DIGEST]: old.digest } } });
    await pushImage(registry.url, 'base/debian', '12', { created: daysAgo(2) });
    expect(await copy('apps/labelled')).toEqual({ digest: app.digest });
  });

  it('passes an image with no base annotation unless the rule requires it', async () => {
    const plain = await pushImage(registry.url, 'apps/plain', '1');
    expect(await copy('apps/plain')).toEqual({ digest: plain.digest });
    await pushImage(registry.url, 'named/plain', '1');
    expect((await copy('named/plain')).error).toContain(`portcullis: policy "named": image does not name its base image (no ${BASE_NAME} annotation or label)`);
  });

  it('warn serves an image on an outdated base and records why', async () => {
    const old = await pushImage(registry.url, 'base/warned', '1', { created: daysAgo(90) });
    const app = await onBase('warned/app', `${UPSTREAM}/base/warned:1`, old.digest);
    await pushImage(registry.url, 'base/warned', '1', { created: daysAgo(30) });
    expect(await copy('warned/app')).toEqual({ digest: app.digest });
    const warned = rows(`kind = 'pull.manifest' AND repository = ? AND digest = ? AND decision = 'warn'`, `${UPSTREAM}/warned/app`, app.digest);
    expect(warned.length).toBeGreaterThan(0);
    expect(warned[0]!.reasons).toMatch(/base image .*base\/warned:1 moved from .* more than 14 days ago/);
  });

  it('denies under enforce a base whose registry is not a configured upstream, since the check cannot be made', async () => {
    await onBase('apps/foreign', 'quay.io/acme/base:1', `sha256:${'e'.repeat(64)}`);
    expect((await copy('apps/foreign')).error).toContain(
      'portcullis: policy "fresh": base image quay.io/acme/base:1 cannot be checked: registry "quay.io" is not a configured upstream',
    );
  });

  it('compares a multi-platform base at the index and reads the build time of the matching platform', async () => {
    const base = `${UPSTREAM}/base/multi:1`;
    const index = async (amd64Days: number, arm64Days: number) => {
      const amd = await pushImage(registry.url, 'base/multi', 'amd', { created: daysAgo(amd64Days) });
      const arm = await pushImage(registry.url, 'base/multi', 'arm', { created: daysAgo(arm64Days), platform: { os: 'linux', architecture: 'arm64' } });
      return pushIndex(registry.url, 'base/multi', '1', [amd, arm]);
    };
    const old = await index(100, 100);
    const armApp = await onBase('apps/multi-arm', base, old.digest, { platform: { os: 'linux', architecture: 'arm64' } });
    const amdApp = await onBase('apps/multi-amd', base, old.digest);
    // The new base: its amd64 image was built yesterday, its arm64 image 30 days ago.
    const moved = await index(1, 30);
    await tagTtlPassed();
    expect(await copy('apps/multi-amd')).toEqual({ digest: amdApp.digest });
    const arm = await copy('apps/multi-arm', { overrideArch: 'arm64' });
    expect(arm.error).toContain(`base image ${base} moved from ${old.digest} to ${moved.digest}, built ${daysAgo(30).slice(0, 10)}`);
    expect(armApp.digest).toBeDefined();
  });

  it('rejects an invalid baseImage at PUT /api/v1/policy with its path', async () => {
    const res = await fetch(`${proxy.url}/api/v1/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policies: [{ name: 'x', match: ['**'], mode: 'enforce', baseImage: { maxBehindDays: -3, requireAnnotations: true } }] }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { errors: Array<{ path: string; message: string }> };
    expect(body.errors).toEqual([
      { path: 'policies[0].baseImage.requireAnnotations', message: 'unknown field (did you mean policies[0].baseImage.requireAnnotation?)' },
      { path: 'policies[0].baseImage.maxBehindDays', message: 'must be a number of days (0 or more)' },
    ]);
  });
});
