import request from 'supertest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { CONSOLE_CSP } from '../../../src/http/console-routes.js';
import { baseConfig } from '../admin/fixture.js';

/**
 * The web console's files at /ui/: security headers on every answer, index.html for the console's own
 * routes, hashed assets cached for good, nothing outside its directory, and a clear 404 when not built.
 */
const INDEX = '<!doctype html><title>console</title><script type="module" src="/ui/assets/index-AbCdEf12.js"></script>';
const ASSET = 'console.log("console");';

describe('web console at /ui/', () => {
  let dir: string;
  let built: App;
  let unbuilt: App;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'console-'));
    const ui = join(dir, 'ui');
    await mkdir(join(ui, 'assets'), { recursive: true });
    await writeFile(join(ui, 'index.html'), INDEX);
    await writeFile(join(ui, 'assets', 'index-AbCdEf12.js'), ASSET);
    await writeFile(join(ui, 'robots.txt'), 'User-agent: *\nDisallow: /\n');
    // A file beside the console's directory that no path may reach.
    await writeFile(join(dir, 'secret.json'), '{"secret":true}');
    const configPath = join(dir, 'portcullis.json');
    await writeFile(configPath, JSON.stringify(baseConfig()));
    built = await createApp(loadConfigFile(configPath), { log: silentLogger, consoleDir: ui });
    const other = join(dir, 'other');
    await mkdir(other);
    const otherConfig = join(other, 'portcullis.json');
    await writeFile(otherConfig, JSON.stringify(baseConfig()));
    unbuilt = await createApp(loadConfigFile(otherConfig), { log: silentLogger, consoleDir: join(dir, 'not-built') });
  });

  afterAll(async () => {
    await built?.close();
    await unbuilt?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function expectSecurityHeaders(res: request.Response): void {
    expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  }

  it('serves index.html at /ui/ with the CSP and no caching', async () => {
    const res = await request(built.handler).get('/ui/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toBe(INDEX);
    expect(res.headers['cache-control']).toBe('no-cache');
    expectSecurityHeaders(res);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
  });

  it('redirects /ui to /ui/, keeping the query', async () => {
    const res = await request(built.handler).get('/ui');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/ui/');
    const q = await request(built.handler).get('/ui?x=1');
    expect(q.headers.location).toBe('/ui/?x=1');
  });

  it('serves hashed assets as immutable and other files as no-cache', async () => {
    const asset = await request(built.handler).get('/ui/assets/index-AbCdEf12.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.text).toBe(ASSET);
    expectSecurityHeaders(asset);
    const robots = await request(built.handler).get('/ui/robots.txt');
    expect(robots.status).toBe(200);
    expect(robots.headers['cache-control']).toBe('no-cache');
  });

  it('answers HEAD without a body', async () => {
    const res = await request(built.handler).head('/ui/assets/index-AbCdEf12.js');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(ASSET)));
  });

  it("answers the console's own routes with index.html and a missing asset with 404", async () => {
    const route = await request(built.handler).get('/ui/events/12');
    expect(route.status).toBe(200);
    expect(route.text).toBe(INDEX);
    const missing = await request(built.handler).get('/ui/assets/gone-12345678.js');
    expect(missing.status).toBe(404);
    expectSecurityHeaders(missing);
  });

  it.each([
    '/ui/../package.json',
    '/ui/..%2fsecret.json',
    '/ui/%2e%2e/secret.json',
    '/ui/%2E%2E%2Fsecret.json',
    '/ui/assets/..%2f..%2fsecret.json',
    '/ui/..%5csecret.json',
    '/ui/%00index.html',
    '/ui/%E0%A4%A',
  ])('refuses a path that climbs out or is malformed: %s', async (path) => {
    const res = await request(built.handler).get(path);
    expect(res.status).toBe(400);
    expect(res.text).toBe('Bad console path.\n');
    expect(res.text).not.toContain('secret');
    expectSecurityHeaders(res);
  });

  it('does not take other methods or neighbouring paths', async () => {
    expect((await request(built.handler).post('/ui/').send('x')).status).toBe(404);
    expect((await request(built.handler).get('/uix')).status).toBe(404);
  });

  it('says how to build the console when it was not built', async () => {
    const res = await request(unbuilt.handler).get('/ui/');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/not built.*npm run build/);
    expectSecurityHeaders(res);
  });
});
