import Database from 'better-sqlite3';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';

/**
 * Tampering that goes around the append-only triggers (as someone with the database file could) is
 * caught by both GET /api/v1/audit/verify and `portcullis audit verify`, which names the first broken event.
 */
const EVENTS = 12;

let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.remove();
  ws = undefined;
});

/** A log of EVENTS events (the config policy version, then pulls); returns the raw database path. */
async function logWithEvents(): Promise<string> {
  ws = await workspace('tamper');
  await ws.write(baseConfig());
  const app = await ws.open();
  for (let i = 2; i <= EVENTS; i++) {
    await app.audit.append({ kind: 'pull.manifest', repository: 'upstream.test/org/app', digest: `sha256:${String(i).padStart(64, '0')}`, decision: i % 3 ? 'allow' : 'deny', reasons: [] });
  }
  await app.close();
  return join(ws.dir, 'portcullis.db');
}

/** Opens the file behind the proxy's back with the triggers dropped. */
function tamper(dbPath: string, sql: string[]): void {
  const db = new Database(dbPath);
  db.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
  for (const s of sql) db.exec(s);
  db.close();
}

async function verifyBoth(): Promise<{ api: Record<string, unknown>; cli: { code: number; report: Record<string, unknown> } }> {
  const app = await ws!.open();
  const res = await request(app.express).get('/api/v1/audit/verify').set('Authorization', bearer('audrey'));
  expect(res.status).toBe(200);
  await app.close();
  const out = await cli(['audit', 'verify', '--config', ws!.configPath]);
  return { api: res.body, cli: { code: out.code, report: JSON.parse(out.stdout) } };
}

describe('audit log tamper evidence', () => {
  it('reports an untouched log as intact, and the CLI exits 0', async () => {
    await logWithEvents();
    const { api, cli: local } = await verifyBoth();
    expect(api).toMatchObject({ ok: true, events: EVENTS, firstBroken: null });
    expect(local.code).toBe(0);
    expect(local.report).toMatchObject({ ok: true, events: EVENTS, firstBroken: null, head: api.head });
  });

  it('refuses changes through SQL while the triggers are in place', async () => {
    const path = await logWithEvents();
    const db = new Database(path);
    expect(() => db.exec(`UPDATE audit_events SET decision = 'allow' WHERE id = 3`)).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM audit_events WHERE id = 3')).toThrow(/append-only/);
    db.close();
  });

  const cases: Array<[string, string[], number]> = [
    ['a changed decision', [`UPDATE audit_events SET decision = 'allow' WHERE id = 6`], 6],
    ['a changed row with its own hash recomputed', [`UPDATE audit_events SET reasons = '["edited"]', hash = 'f'||substr(hash, 2) WHERE id = 4`], 4],
    ['a row deleted from the middle', ['DELETE FROM audit_events WHERE id = 7'], 7],
    ['the newest row deleted', [`DELETE FROM audit_events WHERE id = ${EVENTS}`], EVENTS],
    ['two rows swapped', [
      'UPDATE audit_events SET id = -3 WHERE id = 3',
      'UPDATE audit_events SET id = 3 WHERE id = 4',
      'UPDATE audit_events SET id = 4 WHERE id = -3',
    ], 3],
    ['the oldest rows deleted without a retention anchor', ['DELETE FROM audit_events WHERE id <= 2'], 1],
  ];

  it('detects the newest rows deleted after the proxy has appended past them, and says where the log was cut', async () => {
    const path = await logWithEvents();
    tamper(path, [`DELETE FROM audit_events WHERE id > ${EVENTS - 4}`]);
    // The proxy runs on and records more than was removed: six requests with a wrong token.
    const app = await ws!.open();
    for (let i = 0; i < 6; i++) {
      const res = await request(app.express).get('/api/v1/audit/verify').set('Authorization', 'Bearer not-a-token');
      expect(res.status).toBe(401);
    }
    await app.close();
    const db = new Database(path, { readonly: true });
    const ids = db.prepare('SELECT id FROM audit_events ORDER BY id').pluck().all() as number[];
    db.close();
    // Ids are never given out twice: the new events come after the removed ones.
    expect(ids).toEqual([...Array.from({ length: EVENTS - 4 }, (_, i) => i + 1), ...Array.from({ length: 6 }, (_, i) => EVENTS + 1 + i)]);

    const { api, cli: local } = await verifyBoth();
    const firstBroken = EVENTS - 3;
    expect(api).toMatchObject({ ok: false, firstBroken });
    expect(api.reason).toContain(`${firstBroken}..${EVENTS}`);
    expect(api.reason).toContain(`cut after event ${EVENTS - 4}`);
    expect(local.code).toBe(1);
    expect(local.report).toMatchObject({ ok: false, firstBroken, reason: api.reason });
  });

  it('records one audit.chain.broken event for a break it finds, so auditors and webhooks hear of it', async () => {
    tamper(await logWithEvents(), [`UPDATE audit_events SET decision = 'allow' WHERE id = 6`]);
    const app = await ws!.open();
    const broken = async () => {
      await app.audit.drain();
      const res = await request(app.express).get('/api/v1/audit/events?kind=audit.chain.broken').set('Authorization', bearer('audrey'));
      expect(res.status).toBe(200);
      return res.body.events as Array<{ kind: string; reasons: string[]; evidence: { firstBroken: number } }>;
    };
    expect(await broken()).toEqual([]);
    for (let i = 0; i < 2; i++) {
      const res = await request(app.express).get('/api/v1/audit/verify').set('Authorization', bearer('audrey'));
      expect(res.body).toMatchObject({ ok: false, firstBroken: 6 });
    }
    // Checked twice, reported once; the event itself chains onto the head, so the break stays at event 6.
    const events = await broken();
    expect(events).toHaveLength(1);
    expect(events[0]!.reasons[0]).toMatch(/^the audit log does not verify from event 6: /);
    expect(events[0]!.evidence).toEqual({ firstBroken: 6 });
    await app.close();
  });

  for (const [what, sql, firstBroken] of cases) {
    it(`detects ${what}`, async () => {
      tamper(await logWithEvents(), sql);
      const { api, cli: local } = await verifyBoth();
      expect(api).toMatchObject({ ok: false, firstBroken });
      expect(typeof api.reason).toBe('string');
      expect(local.code).toBe(1);
      expect(local.report).toMatchObject({ ok: false, firstBroken });
    });
  }
});
