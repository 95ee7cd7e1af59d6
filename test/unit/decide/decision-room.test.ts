import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheIndex } from '../../../src/db/cache-index.js';
import { openDatabase } from '../../../src/db/open-database.js';
import type { Database } from '../../../src/db/types.js';
import { createDecisionRoom, type DecisionRoom } from '../../../src/decide/decision-room.js';
import { silentLogger } from '../../../src/logger.js';
import { digestOf } from '../../../src/oci/digest.js';
import { parseManifest } from '../../../src/oci/manifest.js';
import { NO_REVOCATIONS } from '../../../src/policy/revocation.js';
import type { PolicyException } from '../../../src/policy/exception.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import { createArtifactSource } from '../../../src/pull/artifact-source.js';
import { ManifestFetcher, type FetchedManifest } from '../../../src/pull/manifest-fetcher.js';
import { FsBlobStore } from '../../../src/store/fs-blob-store.js';
import { UpstreamClient } from '../../../src/upstream/upstream-client.js';
import type { Target } from '../../../src/upstream/target.js';
import { createEvidenceGatherer } from '../../../src/verify/gatherer.js';

const UNTIL = '2030-01-01T00:00:00.000Z';
const BEFORE = new Date('2029-12-31T00:00:00Z');
const AFTER = new Date('2030-01-02T00:00:00Z');

// Rules that decide without evidence, so nothing is asked of the (unreachable) upstream.
const rules: PolicyRule[] = [
  { name: 'blocked', match: ['up/blocked/**'], mode: 'deny' },
  { name: 'open', match: ['up/open/**'], mode: 'allow' },
];
const exception = (repository: string): PolicyException => ({
  id: 1, repository, digest: null, until: UNTIL, reason: 'migration', author: 'audrey', time: '2029-01-01T00:00:00.000Z', coverDenyRule: true,
});

function image(): FetchedManifest {
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 };
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [] }));
  return { digest: digestOf(bytes), bytes, mediaType: 'application/vnd.oci.image.manifest.v1+json', parsed: parseManifest(bytes), cacheHit: false, stale: false };
}

describe('the decision room', () => {
  let dir: string;
  let db: Database;
  let room: DecisionRoom<FetchedManifest>;
  const upstream = new UpstreamClient(
    { name: 'up', url: 'http://127.0.0.1:9', tagTtlMs: 1000, connectTimeoutMs: 200, idleTimeoutMs: 200, retries: 0 },
    silentLogger,
  );
  const target = (repository: string): Target => ({ upstream, repository, canonical: `up/${repository}` });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'decision-room-'));
    db = await openDatabase({ path: join(dir, 'p.db') });
    const index = new CacheIndex(db.cache);
    const store = new FsBlobStore(join(dir, 'store'));
    store.openSync();
    const manifests = new ManifestFetcher(index, store, silentLogger);
    room = createDecisionRoom({
      policy: { current: () => ({ version: 7, rules }) },
      trust: { revocations: () => NO_REVOCATIONS, exceptions: () => ({ list: [exception('up/blocked/app')] }) },
      index,
      gatherer: createEvidenceGatherer({ trustedRoot: 'public-good', keys: {}, verifyTtlMs: 0 }),
      verifyTtlMs: 60_000,
      upstreams: new Map([['up', upstream]]),
      manifests,
      sources: (t) => createArtifactSource(t, manifests, store, index),
      log: silentLogger,
    });
  });
  afterAll(() => upstream.close());
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('judges a manifest at the time it is given: an exception covers it until it ends', async () => {
    const m = image();
    const during = await room.decide({ target: target('blocked/app'), manifest: m, now: BEFORE });
    expect(during.decision).toMatchObject({ outcome: 'allow', rule: 'blocked', policyVersion: 7, evidence: { exception: { id: 1, until: UNTIL } } });
    expect(during.manifest).toBe(m);
    expect(during.borrowedFrom).toBeUndefined();
    const after = await room.decide({ target: target('blocked/app'), manifest: m, now: AFTER });
    expect(after.decision).toMatchObject({ outcome: 'deny', rule: 'blocked', policyVersion: 7 });
  });

  it('refuses a name by its rule before anything is fetched, at the time it is given', () => {
    expect(room.refuseName(target('open/app'), AFTER)).toBeUndefined();
    expect(room.refuseName(target('blocked/app'), BEFORE)).toBeUndefined();
    expect(room.refuseName(target('blocked/app'), AFTER)).toMatchObject({ outcome: 'deny', rule: 'blocked' });
    expect(room.refuseName(target('elsewhere/app'), AFTER)).toMatchObject({ outcome: 'deny', rule: null, reasons: ['no policy rule matches up/elsewhere/app'] });
  });

  it('refuses to decide a blob no manifest links, or a digest that is not one', async () => {
    await expect(room.decideBlob(target('open/app'), [])).rejects.toThrow(RangeError);
    await expect(room.decideDigest(target('open/app'), 'not-a-digest')).rejects.toMatchObject({ code: 'DIGEST_INVALID' });
  });
});
