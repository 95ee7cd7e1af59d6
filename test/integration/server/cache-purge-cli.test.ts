import type { FsBlobStore } from '../../../src/store/fs-blob-store.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../../src/oci/digest.js';
import { baseConfig, cli, workspace, type Workspace } from '../admin/fixture.js';

/** `portcullis cache purge` on the database and store of a stopped proxy, audited like the API's purge. */

const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
const MANIFEST = Buffer.from('{"schemaVersion":2,"layers":[]}');
const LAYER = Buffer.from('layer bytes for the purge test');

describe('portcullis cache purge', () => {
  let ws: Workspace;
  const purge = (...flags: string[]) => cli(['cache', 'purge', '--config', ws.configPath, ...flags]);

  beforeAll(async () => {
    ws = await workspace('purge-cli');
    await ws.write(baseConfig());
    // What a pull leaves behind: a tag, a manifest in its repository, its evidence, and a layer in the store.
    const app = await ws.open();
    const now = Date.now();
    await app.db.cache.putManifest('upstream.test', 'org/app',
      { digest: sha(MANIFEST), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: MANIFEST.length, isIndex: false, subject: null }, [], now);
    await app.db.cache.putTag('upstream.test', 'org/app', 'latest', sha(MANIFEST), now);
    await app.db.cache.putEvidence({ upstream: 'upstream.test', repository: 'org/app', digest: sha(MANIFEST), fingerprint: 'f' }, '{}', now + 3_600_000);
    await app.store.putVerified(sha(LAYER), LAYER);
    await app.db.cache.recordBlob(sha(LAYER), LAYER.length, now);
    await app.close();
  });
  afterAll(() => ws.remove());

  it('forgets a repository\'s tags and evidence, then removes a digest from the store', async () => {
    const repo = await purge('--repository', 'upstream.test/org/app');
    expect(repo.code, repo.stderr).toBe(0);
    expect(JSON.parse(repo.stdout)).toEqual({ purged: { tags: 1, evidence: 1, files: 0 } });
    const again = await purge('--repository', 'upstream.test/org/app');
    expect(JSON.parse(again.stdout)).toEqual({ purged: { tags: 0, evidence: 0, files: 0 } });

    const app = await ws.open();
    const layerPath = (app.store as FsBlobStore).pathOf(sha(LAYER));
    await app.close();
    expect(existsSync(layerPath)).toBe(true);
    const blob = await purge('--digest', sha(LAYER));
    expect(blob.code, blob.stderr).toBe(0);
    expect(JSON.parse(blob.stdout)).toEqual({ purged: { tags: 0, evidence: 0, files: 1 } });
    expect(existsSync(layerPath)).toBe(false);
  });

  it('audits each purge in the chain, naming the person on the host', async () => {
    const events = JSON.parse((await cli(['audit', 'query', '--config', ws.configPath, '--kind', 'cache.purge'])).stdout).events as
      { user: string; client: string; repository: string | null; digest: string | null; reasons: string[] }[];
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events[0]).toMatchObject({ client: 'local', repository: 'upstream.test/org/app', digest: null, reasons: ['purged 1 tags, 1 evidence records, 0 files'] });
    expect(events.every((e) => /^cli:.+/.test(e.user))).toBe(true);
    expect(events.some((e) => e.digest === sha(LAYER))).toBe(true);
    expect((await cli(['audit', 'verify', '--config', ws.configPath])).code).toBe(0);
  });

  it('refuses a purge that names nothing valid, with exit 2 and the reason', async () => {
    const nothing = await purge();
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('--repository');
    const unknownUpstream = await purge('--repository', 'elsewhere.test/org/app');
    expect(unknownUpstream.code).toBe(2);
    expect(unknownUpstream.stderr).toContain('configured upstream');
    const badDigest = await purge('--digest', 'sha256:nothex');
    expect(badDigest.code).toBe(2);
    expect(badDigest.stderr).toContain('digest');
    const typo = await purge('--repo', 'upstream.test/org/app');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown option --repo');
  });

  it('says in its help that a running proxy is purged through the API', async () => {
    const help = await cli(['cache', 'purge', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('POST /api/v1/cache/purge');
    expect(help.stdout).toContain('while the proxy is stopped');
  });
});
