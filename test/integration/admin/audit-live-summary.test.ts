import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import type { AuditEventInput } from '../../../src/audit/types.js';
import { baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';
import { useBackends } from '../../helpers/backends.js';

/** One event by id, the request-id and repository-prefix filters, the summary and the live stream. */

const manifest = (over: Partial<AuditEventInput> = {}): AuditEventInput => ({
  kind: 'pull.manifest', client: '10.1.1.1', user: 'ci', upstream: 'upstream.test', repository: 'upstream.test/org/app',
  reference: '1.0', digest: `sha256:${'a'.repeat(64)}`, decision: 'allow', policy: 'signed', mode: 'enforce', reasons: [], ...over,
});

const backends = useBackends();

describe.each(backends.names)('audit lookup, filters and summary (%s)', (backend) => {
  let ws: Workspace;
  let app: App;
  const get = (path: string, who: 'alice' | 'audrey' | 'ci' = 'audrey') =>
    request(app.express).get(`/api/v1/audit${path}`).set('Authorization', bearer(who));

  beforeAll(async () => {
    ws = await workspace('audit-summary');
    await ws.write(baseConfig({ database: await backends.database(backend) }));
    app = await ws.open(); // event 1: the config's policy version
    // docker pulls with a HEAD and then a GET: two events, one pull.
    await app.audit.append(manifest({ requestId: 'head-1' }));
    await app.audit.append(manifest({ requestId: 'get-1' }));
    const deny = manifest({ repository: 'upstream.test/org/db', decision: 'deny', reasons: ['no signature'], policy: 'strict' });
    await app.audit.append({ ...deny, requestId: 'head-2' });
    await app.audit.append({ ...deny, requestId: 'get-2' });
    await app.audit.append({ ...deny, user: null, client: '10.2.2.2', requestId: 'anon' });
    await app.audit.append(manifest({ repository: 'upstream.test/org_x/app', decision: 'warn', requestId: 'warned' }));
    await app.audit.append({ kind: 'pull.blob', repository: 'upstream.test/org/app', requestId: 'get-1', decision: 'allow' });
  });
  afterAll(() => ws.remove());

  it('answers one event by id, as in the list', async () => {
    const list = (await get('/events?limit=1000')).body.events as { id: number }[];
    const res = await get('/events/3');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(list.find((e) => e.id === 3));
    expect(res.body).toMatchObject({ id: 3, requestId: 'get-1', kind: 'pull.manifest' });
  });

  it('answers 404 for an id with no event and 400 for one that is not a positive integer', async () => {
    const missing = await get('/events/99999');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toEqual({ code: 'NOT_FOUND', message: expect.stringContaining('99999') });
    for (const bad of ['0', '-1', 'abc', '1.5', '1e3', '99999999999999999999']) {
      const res = await get(`/events/${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.errors).toEqual([{ path: 'id', message: expect.any(String) }]);
    }
    expect((await get('/events/3', 'ci')).status).toBe(403);
  });

  it('filters events by request id and by repository prefix, taken literally', async () => {
    const ids = async (query: string) => ((await get(`/events?${query}`)).body.events as { requestId: string }[]).map((e) => e.requestId);
    expect(await ids('requestId=get-1')).toEqual(['get-1', 'get-1']);
    expect(await ids('requestId=get-1&kind=pull.blob')).toEqual(['get-1']);
    expect(await ids(`repositoryPrefix=${encodeURIComponent('upstream.test/org/')}&kind=pull.manifest`)).toEqual(['head-1', 'get-1', 'head-2', 'get-2', 'anon']);
    expect(await ids(`repositoryPrefix=${encodeURIComponent('upstream.test/org_')}`)).toEqual(['warned']);
    expect(await ids(`repositoryPrefix=${encodeURIComponent('upstream.test/org%')}`)).toEqual([]);
    const local = await cli(['audit', 'query', '--config', ws.configPath, '--repositoryPrefix', 'upstream.test/org_', '--requestId', 'warned']);
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout).events.map((e: { requestId: string }) => e.requestId)).toEqual(['warned']);
  });

  it('summarises pulls by image, counting a HEAD and GET once, with reasons and an hourly series', async () => {
    const res = await get('/summary?since=24h');
    expect(res.status, res.text).toBe(200);
    const s = res.body;
    expect(s).toMatchObject({ by: 'image', bucket: '1h', totals: { pulls: 4, allowed: 1, denied: 2, warned: 1 } });
    expect(s.groups).toEqual([
      { key: 'upstream.test/org/db', pulls: 2, allowed: 0, denied: 2, warned: 0, reasons: [{ reason: 'no signature', count: 2 }] },
      { key: 'upstream.test/org/app', pulls: 1, allowed: 1, denied: 0, warned: 0, reasons: [] },
      { key: 'upstream.test/org_x/app', pulls: 1, allowed: 0, denied: 0, warned: 1, reasons: [] },
    ]);
    expect(s.series).toHaveLength(25);
    expect(s.series.every((b: { start: string }) => b.start.endsWith(':00:00.000Z'))).toBe(true);
    expect(s.series.reduce((n: number, b: { pulls: number }) => n + b.pulls, 0)).toBe(4);
    expect(Date.parse(s.until) - Date.parse(s.since)).toBe(24 * 3_600_000);
  });

  it('groups by user, rule and decision, within a limit', async () => {
    const keys = async (query: string) => ((await get(`/summary?${query}`)).body.groups as { key: string }[]).map((g) => g.key);
    expect(await keys('by=user')).toEqual(['ci', 'anonymous (10.2.2.2)']);
    expect(await keys('by=rule')).toEqual(['strict', 'signed']);
    expect(await keys('by=decision&limit=2')).toEqual(['deny', 'allow']);
    const daily = (await get('/summary?since=30d&bucket=1d')).body;
    expect(daily.series).toHaveLength(31);
    expect(daily.totals.pulls).toBe(4);
    expect((await get('/summary?since=2000-01-01&until=2000-01-02')).body).toMatchObject({ totals: { pulls: 0 }, groups: [] });
  });

  it('refuses unknown parameters, bad values and ranges of more than 2000 buckets', async () => {
    const paths = async (query: string) => {
      const res = await get(`/summary?${query}`);
      expect(res.status, query).toBe(400);
      return (res.body.errors as { path: string }[]).map((e) => e.path).sort();
    };
    expect(await paths('group=image')).toEqual(['group']);
    expect(await paths('bucket=5m&by=tag&limit=0')).toEqual(['bucket', 'by', 'limit']);
    expect(await paths('since=90d&bucket=1h')).toEqual(['bucket']);
    expect(await paths('since=1d&until=2d')).toEqual(['until']);
    expect((await get('/summary', 'ci')).status).toBe(403);
  });
});

interface Message {
  id?: string;
  event?: string;
  data?: string;
}

/** Reads Server-Sent Events from a fetch() body, as the browser console does (EventSource sends no token). */
class SseReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(timeoutMs = 5000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const msg: Message = {};
        for (const line of block.split('\n')) {
          const m = /^(id|event|data): (.*)$/.exec(line);
          if (m) msg[m[1] as keyof Message] = m[2];
        }
        if (msg.event || msg.data) return msg; // comments are skipped
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no event in time');
      const read = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event in time')), left)),
      ]);
      if (read.done) throw new Error('stream ended');
      this.buffer += this.decoder.decode(read.value, { stream: true });
    }
  }
}

describe('live audit stream', () => {
  let ws: Workspace;
  let app: App;
  let server: Server;
  let base: string;
  const controllers: AbortController[] = [];

  const open = async (query = '', headers: Record<string, string> = {}, who: 'audrey' | 'ci' = 'audrey') => {
    const controller = new AbortController();
    controllers.push(controller);
    const res = await fetch(`${base}/api/v1/audit/events/live${query}`, {
      headers: { Authorization: bearer(who), ...headers },
      signal: controller.signal,
    });
    return { res, controller, sse: () => new SseReader(res.body!.getReader()) };
  };

  beforeAll(async () => {
    ws = await workspace('audit-live');
    // One identity may take every place here, to reach the limit of the process.
    await ws.write(baseConfig({ audit: { liveStreamsPerIdentity: 50 } }));
    app = await ws.open();
    server = createServer(app.handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const c of controllers) c.abort();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await ws.remove();
  });

  it('sends each new matching event with its id, and resumes after Last-Event-ID', async () => {
    const { res, sse, controller } = await open(`?repositoryPrefix=${encodeURIComponent('upstream.test/live/')}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const stream = sse();
    await app.audit.append(manifest({ repository: 'upstream.test/other/app', requestId: 'not-this' }));
    const id = await app.audit.append(manifest({ repository: 'upstream.test/live/app', requestId: 'this-one' }));
    const msg = await stream.next();
    expect(msg.id).toBe(String(id));
    expect(msg.event).toBe('audit');
    const one = await request(app.express).get(`/api/v1/audit/events/${id}`).set('Authorization', bearer('audrey'));
    expect(JSON.parse(msg.data!)).toEqual(one.body);
    controller.abort();

    // Events written while nobody listened arrive on reconnection, in order.
    const later = [
      await app.audit.append(manifest({ repository: 'upstream.test/live/a', requestId: 'while-away-1' })),
      await app.audit.append(manifest({ repository: 'upstream.test/elsewhere', requestId: 'while-away-x' })),
      await app.audit.append(manifest({ repository: 'upstream.test/live/b', requestId: 'while-away-2' })),
    ];
    const resumed = (await open(`?repositoryPrefix=${encodeURIComponent('upstream.test/live/')}`, { 'Last-Event-ID': String(id) })).sse();
    const a = await resumed.next();
    const b = await resumed.next();
    expect([a.id, b.id]).toEqual([String(later[0]), String(later[2])]);
    expect(JSON.parse(b.data!).requestId).toBe('while-away-2');

    // `after` does the same for a client that cannot set the header.
    const byParam = (await open(`?after=${later[1]}&requestId=while-away-2`)).sse();
    expect((await byParam.next()).id).toBe(String(later[2]));
  });

  it('starts after the newest event when no position is given', async () => {
    await app.audit.append(manifest({ requestId: 'before-start' }));
    const stream = (await open('?kind=pull.manifest')).sse();
    const id = await app.audit.append(manifest({ requestId: 'after-start' }));
    const msg = await stream.next();
    expect(msg.id).toBe(String(id));
  });

  it('refuses unknown parameters, bad positions and callers without the auditor role', async () => {
    const typo = await open('?decison=deny');
    expect(typo.res.status).toBe(400);
    expect((await typo.res.json()).errors).toEqual([{ path: 'decison', message: expect.any(String) }]);
    const bad = await open('', { 'Last-Event-ID': 'yesterday' });
    expect(bad.res.status).toBe(400);
    expect((await bad.res.json()).errors).toEqual([{ path: 'Last-Event-ID', message: expect.any(String) }]);
    expect((await open('?after=-5')).res.status).toBe(400);
    expect((await open('', {}, 'ci')).res.status).toBe(403);
    // HEAD gets the headers, not a stream that would hold one of the places.
    const head = await fetch(`${base}/api/v1/audit/events/live`, { method: 'HEAD', headers: { Authorization: bearer('audrey') } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^text\/event-stream/);
  });

  it('keeps a quiet stream open with a keep-alive comment every 15 s', async () => {
    const { res } = await open('?kind=nothing.ever');
    const reader = res.body!.getReader();
    const started = Date.now();
    let text = '';
    while (!text.includes(': keep-alive\n\n')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toMatch(/^: events after \d+\n\n: keep-alive\n\n$/);
    expect(Date.now() - started).toBeGreaterThan(14_000);
  }, 30_000);

  it('serves at most 50 streams at once, and frees a place when a client goes away', async () => {
    for (const c of controllers.splice(0)) c.abort();
    await new Promise((r) => setTimeout(r, 1500)); // the aborted streams notice on their next poll or sooner
    const streams = await Promise.all(Array.from({ length: 50 }, () => open()));
    expect(streams.every((s) => s.res.status === 200)).toBe(true);
    const refused = await open();
    expect(refused.res.status).toBe(503);
    expect((await refused.res.json()).error.message).toContain('at most 50');
    streams[0]!.controller.abort();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const again = await open();
      status = again.res.status;
      if (status !== 200) await again.res.text();
    }
    expect(status).toBe(200);
  });

  it('ends open streams when the app shuts down', async () => {
    for (const c of controllers.splice(0)) c.abort();
    await new Promise((r) => setTimeout(r, 500));
    const { res, sse } = await open();
    expect(res.status).toBe(200);
    const stream = sse();
    app.closeStreams();
    await expect(stream.next()).rejects.toThrow('stream ended');
  });
});
