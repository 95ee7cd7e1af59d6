import { readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheIndex, LINK_REFRESH_MS } from '../../../src/db/cache-index.js';
import { openDatabase } from '../../../src/db/open-database.js';
import { MIGRATIONS_DIR, openSqlite } from '../../../src/db/sqlite/connection.js';
import type { Database as Db } from '../../../src/db/types.js';

const D = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const DAY = 86_400_000;

describe('stale blob links', () => {
  let dir: string;
  let db: Db;
  let index: CacheIndex;
  const rows = () => {
    const raw = new Database(join(dir, 'p.db'), { readonly: true });
    try {
      return (raw.prepare('SELECT count(*) AS n FROM blob_links').get() as { n: number }).n;
    } finally {
      raw.close();
    }
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'link-sweep-'));
    db = await openDatabase({ path: join(dir, 'p.db') });
    index = new CacheIndex(db.cache);
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('removes links of manifests not served within the retention, and keeps those still served', async () => {
    const layers = Array.from({ length: 50 }, (_, i) => ({ digest: D(i), size: i }));
    await index.linkBlobs('up', 'org/old', D(1000), layers);
    await index.linkBlobs('up', 'org/hot', D(1001), layers.slice(0, 3));
    expect(rows()).toBe(53);
    expect(await index.sweepLinks(30 * DAY, Date.now() + 29 * DAY)).toBe(0);
    // Served again after the refresh interval (a new process, no memory of the write): its links are rewritten.
    const later = new CacheIndex(db.cache);
    const realNow = Date.now;
    Date.now = () => realNow() + 10 * DAY;
    try {
      await later.linkBlobs('up', 'org/hot', D(1001), layers.slice(0, 3));
    } finally {
      Date.now = realNow;
    }
    expect(await index.sweepLinks(30 * DAY, Date.now() + 31 * DAY)).toBe(50);
    expect(rows()).toBe(3);
    expect(await index.blobLinks('up', 'org/hot', D(0))).toHaveLength(1);
  });

  it('drops artifact links made before artifacts were proven, and dates the others at the upgrade', async () => {
    const old = join(dir, 'old');
    await mkdir(old);
    for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => /^\d+_.*\.sql$/.test(f) && Number(f.split('_')[0]) <= 10)) {
      await copyFile(join(MIGRATIONS_DIR, f), join(old, f));
    }
    const path = join(dir, 'upgraded.db');
    const before = openSqlite(path, { migrationsDir: old });
    const link = before.prepare('INSERT INTO blob_links (upstream, repository, digest, manifest, size, via_artifact) VALUES (?, ?, ?, ?, ?, ?)');
    link.run('up', 'org/app', D(1), D(9), 1, 1);
    link.run('up', 'org/app', D(2), D(9), 1, 0);
    before.close();
    const upgraded = await openDatabase({ path });
    try {
      expect(await upgraded.cache.blobLinks('up', 'org/app', D(1))).toEqual([]);
      expect(await upgraded.cache.blobLinks('up', 'org/app', D(2))).toHaveLength(1);
      expect(await upgraded.cache.sweepLinks(Date.now() - DAY, 10)).toBe(0);
    } finally {
      await upgraded.close();
    }
  });

  it('never sweeps within twice the refresh interval, whatever the retention', async () => {
    await index.linkBlobs('up', 'org/app', D(1), [{ digest: D(2), size: 1 }]);
    expect(await index.sweepLinks(1, Date.now() + LINK_REFRESH_MS)).toBe(0);
    expect(await index.sweepLinks(1, Date.now() + 3 * LINK_REFRESH_MS)).toBe(1);
  });
});
