import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/open-database.js';
import type { Database } from '../../../src/db/types.js';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { verifyChain } from '../../../src/audit/verify-chain.js';
import { useBackends, type BackendName } from '../../helpers/backends.js';
import { queryColumn } from '../../helpers/db-query.js';

/**
 * On every backend, audit ids are never given out twice: the newest events deleted behind the proxy's back
 * (the append-only triggers dropped, as someone with the database could) stay a gap that verification
 * reports, however many events are appended afterwards.
 */

const backends = useBackends();

describe.each(backends.names)('audit ids (%s)', (backend: BackendName) => {
  let dir: string;
  let db: Database | undefined;
  let config: { path: string } | { url: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `audit-ids-${backend}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  /** Deletes rows with the triggers out of the way, on a connection of its own. */
  async function deleteBehindItsBack(where: string): Promise<void> {
    if ('path' in config) {
      const { default: Sqlite } = await import('better-sqlite3');
      const raw = new Sqlite(config.path);
      try {
        raw.exec(`DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE ${where}`);
      } finally {
        raw.close();
      }
      return;
    }
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: config.url });
    await client.connect();
    try {
      await client.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change');
      await client.query(`DELETE FROM audit_events WHERE ${where}`);
    } finally {
      await client.end();
    }
  }

  it('keeps the newest events deleted a gap after more events are appended', async () => {
    config = backend === 'sqlite' ? { path: join(dir, 'cut.db') } : await backends.database('postgres');
    db = await openDatabase(config as never);
    const log = new AuditLog(db.audit);
    for (let i = 0; i < 10; i++) await log.record({ kind: 'pull.manifest', reasons: [`pull ${i}`] });
    await deleteBehindItsBack('id > 6');
    for (let i = 0; i < 8; i++) await log.record({ kind: 'pull.manifest', reasons: [`later ${i}`] });

    expect(await queryColumn<number>(config as never, 'SELECT id FROM audit_events ORDER BY id')).toEqual([1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 17, 18]);
    const report = await verifyChain(db.audit);
    expect(report).toMatchObject({ ok: false, firstBroken: 7 });
    expect(report.reason).toMatch(/^events 7\.\.10 are missing/);
  });
});
