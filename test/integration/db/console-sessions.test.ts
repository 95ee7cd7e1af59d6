import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/db/open-database.js';
import type { Database } from '../../../src/db/types.js';
import { ConsoleSessions, csrfMatches } from '../../../src/auth/console-sessions.js';
import { useBackends, type BackendName } from '../../helpers/backends.js';
import { queryRows } from '../../helpers/db-query.js';

/**
 * Console sign-ins and sessions in each database backend, as two processes (or replicas) share them: a
 * sign-in is taken once, a session is known everywhere and ended everywhere, and only hashes are stored.
 */
const backends = useBackends();
const ALICE = { subject: 'alice', issuer: 'https://idp.example', name: 'alice@example.test' };

describe.each(backends.names)('console sessions (%s)', (backend: BackendName) => {
  let dir: string;
  let config: { path: string } | { url: string };
  const opened: Database[] = [];
  const open = async () => {
    const db = await openDatabase(config as never);
    opened.push(db);
    return db;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `sessions-${backend}-`));
    config = backend === 'sqlite' ? { path: join(dir, 'portcullis.db') } : await backends.database('postgres');
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a begun sign-in to exactly one of two racing callbacks, and only in the browser that began it', async () => {
    const [a, b] = [new ConsoleSessions((await open()).sessions, 60_000), new ConsoleSessions((await open()).sessions, 60_000)];
    const login = { nonce: 'n', codeVerifier: 'v', redirectUrl: 'http://127.0.0.1/auth/console/callback' };
    const browser = await a.beginLogin('state-1', login);
    const [x, y] = await Promise.all([a.takeLogin('state-1', browser), b.takeLogin('state-1', browser)]);
    expect([x, y].filter((r) => !('error' in r))).toEqual([expect.objectContaining(login)]);
    expect([x, y].filter((r) => 'error' in r)).toEqual([{ error: expect.stringContaining('already used or expired') }]);

    await a.beginLogin('state-2', login);
    expect(await b.takeLogin('state-2', 'someone-elses-cookie')).toEqual({ error: expect.stringContaining('not begun in this browser') });
    // Refused once, it is gone for the right browser too: a probe burns the state.
    expect(await b.takeLogin('state-2', browser)).toEqual({ error: expect.stringContaining('already used') });
  });

  it('bounds the sign-ins waiting for their callback', async () => {
    const a = new ConsoleSessions((await open()).sessions, 60_000);
    const login = { nonce: 'n', codeVerifier: 'v', redirectUrl: 'http://127.0.0.1/auth/console/callback' };
    for (const state of ['s1', 's2', 's3']) expect(await a.beginLogin(`bound-${state}`, login, 3)).toEqual(expect.any(String));
    expect(await a.beginLogin('bound-s4', login, 3)).toBeUndefined();
    await a.takeLogin('bound-s1', undefined);
    expect(await a.beginLogin('bound-s5', login, 3)).toEqual(expect.any(String));
  });

  it('knows a session in every process until sign-out or expiry, storing only hashes of its secrets', async () => {
    const a = new ConsoleSessions((await open()).sessions, 60_000);
    const b = new ConsoleSessions((await open()).sessions, 60_000);
    const { cookie } = await a.create(ALICE, 'admin');
    const seen = (await b.resolve(cookie))!;
    expect(seen.identity).toEqual({ name: 'alice@example.test (sub alice, https://idp.example)', role: 'admin', person: ALICE });
    expect(csrfMatches(seen, seen.csrf)).toBe(true);
    expect(csrfMatches(seen, undefined)).toBe(false);
    expect(csrfMatches(seen, `${seen.csrf}x`)).toBe(false);
    const rows = await queryRows<{ id_hash: string }>(config as never, 'SELECT id_hash FROM console_sessions');
    expect(rows.map((r) => r.id_hash)).not.toContain(cookie);
    expect(JSON.stringify(rows)).not.toContain(cookie);

    expect(await b.end(cookie)).toBe(true);
    expect(await a.resolve(cookie)).toBeUndefined();

    const short = new ConsoleSessions((await open()).sessions, 1);
    const expiring = await short.create(ALICE, 'auditor');
    await new Promise((r) => setTimeout(r, 5));
    expect(await a.resolve(expiring.cookie)).toBeUndefined();
  });
});
