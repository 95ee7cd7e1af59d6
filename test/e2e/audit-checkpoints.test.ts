import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowHash, type StoredRow } from '../../src/audit/chain.js';
import { skopeoCopy } from '../helpers/clients.js';
import { CLI, startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * Signed checkpoints anchor the audit log outside the database. Someone who can write the database file
 * cuts the newest events (or rewrites an old one), recomputes every hash and fixes the id counter: the
 * plain chain check passes, and the check against the checkpoint file (shipped off the machine) fails.
 * A real docker-registry upstream, skopeo pulling through the proxy's default worker processes.
 */
const skip = !haveTools(['docker-registry', 'skopeo']);

const AUDITOR = 'auditor-token-for-checkpoint-tests';

interface Verify {
  code: number | null;
  report: { ok: boolean; reason?: string; firstBroken: number | null; checkpoints?: { matched: number; newest: { lastId: number } | null } };
}

describe.skipIf(skip)('audit checkpoints', () => {
  let registry: Registry;
  let proxy: Proxy;
  let dbPath: string;
  let checkpointFile: string;
  let publicKeyFile: string;
  let pristine: string;

  const cli = (...args: string[]): Verify => {
    const out = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--config', proxy.configPath, ...args], { encoding: 'utf8' });
    return { code: out.status, report: JSON.parse(out.stdout) as Verify['report'] };
  };
  const withCheckpoints = () => cli('--checkpoints', checkpointFile, '--public-key', publicKeyFile);
  const checkpoints = () => readFileSync(checkpointFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { lastId: number; head: string });
  /** Rewrites the database file as an attacker with write access would: triggers dropped, then `change`. */
  const restore = () => {
    for (const side of ['-wal', '-shm']) rmSync(`${dbPath}${side}`, { force: true });
    copyFileSync(pristine, dbPath);
  };
  const tamper = (change: (db: Database.Database) => void) => {
    restore();
    const db = new Database(dbPath);
    db.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
    change(db);
    db.close();
  };
  /** Recomputes every hash from `from` on, so the chain is self-consistent again. */
  const rechain = (db: Database.Database, from: number) => {
    const rows = db.prepare('SELECT * FROM audit_events WHERE id >= ? ORDER BY id').all(from) as StoredRow[];
    let prev = (db.prepare('SELECT hash FROM audit_events WHERE id = ?').pluck().get(from - 1) as string | undefined) ?? '0'.repeat(64);
    const update = db.prepare('UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?');
    for (const row of rows) {
      const { hash: _h, prev_hash: _p, ...content } = row;
      const hash = rowHash(prev, content);
      update.run(prev, hash, row.id);
      prev = hash;
    }
  };

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    for (const repo of ['org/a', 'org/b', 'org/c']) await pushImage(registry.url, repo, '1', { layers: 1 });
    const dataDir = await tempDir('proxy');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dataDir, 'checkpoint.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    // The verifier off the machine has only the public key.
    publicKeyFile = join(await tempDir('offsite'), 'checkpoint.pub');
    writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    checkpointFile = join(dataDir, 'checkpoints.jsonl');
    dbPath = join(dataDir, 'portcullis.db');
    proxy = await startProxy({
      dataDir,
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      extra: {
        server: { workers: 2 },
        auth: { pull: 'anonymous', tokens: [{ name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(AUDITOR).digest('hex') }] },
        audit: { checkpoint: { key: './checkpoint.pem', file: './checkpoints.jsonl', every: '1s' } },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('writes signed checkpoints from one process while pulls are recorded', async () => {
    for (const repo of ['org/a', 'org/b', 'org/c']) await skopeoCopy(`${proxy.host}/${UPSTREAM}/${repo}:1`, await tempDir('copy'));
    const newest = () => {
      const db = new Database(dbPath, { readonly: true });
      try {
        return db.prepare('SELECT max(id) FROM audit_events').pluck().get() as number;
      } finally {
        db.close();
      }
    };
    const target = newest();
    await waitUntil('a checkpoint covering every pull', async () => existsSync(checkpointFile) && checkpoints().at(-1)!.lastId >= target, 10_000);
    // Each pull is in the log (three images: manifest and blobs), and only the upkeep worker signs.
    const ids = checkpoints().map((c) => c.lastId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    const logged = proxy.jsonLogs().filter((l) => l.msg === 'audit.checkpoint');
    expect(logged.length).toBeGreaterThan(0);
    expect(new Set(logged.map((l) => l.worker))).toEqual(new Set([0]));

    // The API holds the log against the configured file.
    const res = await fetch(`${proxy.url}/api/v1/audit/verify`, { headers: { authorization: `Bearer ${AUDITOR}` } });
    const body = (await res.json()) as Verify['report'];
    expect(body.ok).toBe(true);
    expect(body.checkpoints!.matched).toBeGreaterThan(0);

    // Stopping writes a last checkpoint, covering the log as it is left.
    await proxy.stop();
    const last = checkpoints().at(-1)!;
    expect(last.lastId).toBe(newest());
    pristine = `${dbPath}.pristine`;
    const db = new Database(dbPath);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    copyFileSync(dbPath, pristine);
    const intact = withCheckpoints();
    expect(intact.code).toBe(0);
    expect(intact.report.checkpoints?.newest?.lastId).toBe(last.lastId);
  }, 90_000);

  it('catches the newest events cut off with the id counter fixed, which the chain alone cannot', () => {
    tamper((db) => {
      const top = db.prepare('SELECT max(id) FROM audit_events').pluck().get() as number;
      db.prepare('DELETE FROM audit_events WHERE id > ?').run(top - 3);
      db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_events'").run(top - 3);
    });
    expect(cli().code).toBe(0); // The attack the chain cannot see.
    const caught = withCheckpoints();
    expect(caught.code).toBe(1);
    expect(caught.report.ok).toBe(false);
    expect(caught.report.reason).toMatch(/the log ends at event \d+ but the checkpoint of .* covers events up to \d+/);
  });

  it('catches an old event rewritten with every later hash recomputed', () => {
    tamper((db) => {
      db.prepare("UPDATE audit_events SET reasons = '[\"nothing to see\"]', decision = 'allow' WHERE id = 2").run();
      rechain(db, 2);
    });
    expect(cli().code).toBe(0);
    const caught = withCheckpoints();
    expect(caught.code).toBe(1);
    expect(caught.report.reason).toMatch(/does not have the hash signed by the checkpoint .*rewritten at or before event/);
  });

  it('catches a cut log after the proxy appended past the cut, and then signs nothing', async () => {
    tamper((db) => {
      const top = db.prepare('SELECT max(id) FROM audit_events').pluck().get() as number;
      db.prepare('DELETE FROM audit_events WHERE id > ?').run(top - 2);
      db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_events'").run(top - 2);
    });
    const before = checkpoints().length;
    await proxy.restart();
    // New pulls fill the cut ids again, so the log is as long as before and the chain check passes.
    for (const repo of ['org/a', 'org/b']) await skopeoCopy(`${proxy.host}/${UPSTREAM}/${repo}:1`, await tempDir('copy'));
    await waitUntil('the refusal to sign', async () => proxy.jsonLogs().some((l) => l.msg === 'audit log does not verify; no checkpoint written'), 10_000);
    const res = await fetch(`${proxy.url}/api/v1/audit/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AUDITOR}`, 'content-type': 'application/json' },
      body: JSON.stringify({ checkpoints: checkpoints() }),
    });
    const body = (await res.json()) as Verify['report'];
    expect(body.ok).toBe(false);
    expect(body.reason).toMatch(/rewritten at or before event|the log ends at event/);
    await proxy.stop();
    expect(checkpoints().length).toBe(before);
    expect(cli().code).toBe(0);
    expect(withCheckpoints().code).toBe(1);
  }, 90_000);

  it('refuses a forged checkpoint', () => {
    restore();
    const forged = checkpoints().map((c) => ({ ...c, lastId: 1 }));
    const file = `${checkpointFile}.forged`;
    writeFileSync(file, forged.map((c) => JSON.stringify(c)).join('\n'));
    const out = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--config', proxy.configPath, '--checkpoints', file, '--public-key', publicKeyFile], { encoding: 'utf8' });
    expect(out.status).toBe(1);
    expect(JSON.parse(out.stdout).reason).toMatch(/signature of the checkpoint up to event 1 does not verify/);
  });
});
