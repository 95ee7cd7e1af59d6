import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/app.js';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigValidationError } from '../../../src/config/validator.js';
import { baseConfig, bearer, cli, workspace, type Workspace } from './fixture.js';

/**
 * A duration means the same through the config file, the admin API and the CLI: what one accepts the
 * others accept with the same length, and what one refuses the others refuse in the same words.
 */
const HINT = 'such as "30s", "15m", "4h" or "7d"';
const ACCEPTED: [string, number][] = [
  ['4s', 4_000],
  ['500ms', 500],
  ['1.5h', 5_400_000],
  ['90m', 5_400_000],
  ['7d', 604_800_000],
];
const REFUSED = ['4w', '1h30m', '4', 's', '-4s', '4 s', '4S', '99999999999d', '9'.repeat(40) + 'm'];

/** The tag TTL a config with this duration gets, or the config error for it. */
function throughConfig(text: string): { ms?: number; error?: string } {
  try {
    const c = parseConfig(baseConfig({ upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', tagTtl: text }] }), '/tmp/portcullis.json', {});
    return { ms: c.upstreams[0]!.tagTtlMs };
  } catch (e) {
    return { error: (e as ConfigValidationError).errors.map((x) => x.message).join('; ') };
  }
}

describe('one duration grammar for config, API and CLI', () => {
  let ws: Workspace;
  let app: App;
  const admin = (req: request.Test) => req.set('Authorization', bearer('alice'));

  beforeAll(async () => {
    ws = await workspace('durations');
    await ws.write(baseConfig());
    app = await ws.open();
  });
  afterAll(async () => {
    await ws?.remove();
  });

  it.each(ACCEPTED)('reads %s as %i ms everywhere', async (text, ms) => {
    expect(throughConfig(text)).toEqual({ ms });

    const before = Date.now();
    const created = await admin(request(app.handler).post('/api/v1/exceptions')).send({ match: 'upstream.test/org/app', until: text, reason: 'hotfix' });
    const after = Date.now();
    expect(created.status, created.text).toBe(201);
    const until = Date.parse(created.body.until as string);
    expect(until).toBeGreaterThanOrEqual(before - 1 + ms);
    expect(until).toBeLessThanOrEqual(after + 1 + ms);

    const events = await admin(request(app.handler).get(`/api/v1/audit/events?since=${encodeURIComponent(text)}`));
    expect(events.status, events.text).toBe(200);

    const run = await cli(['audit', 'query', '--config', ws.configPath, '--since', text, '--limit', '1']);
    expect(run.code, run.stderr).toBe(0);
  });

  it.each(REFUSED)('refuses %j everywhere with the same words', async (text) => {
    expect(throughConfig(text).error).toContain(HINT);

    const created = await admin(request(app.handler).post('/api/v1/exceptions')).send({ match: 'upstream.test/org/app', until: text, reason: 'hotfix' });
    expect(created.status, created.text).toBe(400);
    expect(created.body.errors).toEqual([{ path: 'until', message: expect.stringContaining(HINT) }]);

    const events = await admin(request(app.handler).get(`/api/v1/audit/events?since=${encodeURIComponent(text)}`));
    expect(events.status, events.text).toBe(400);
    expect(events.body.errors).toEqual([{ path: 'since', message: expect.stringContaining(HINT) }]);

    const run = await cli(['audit', 'query', '--config', ws.configPath, '--since', text]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(HINT);
    expect(run.stderr).not.toMatch(/RangeError|at .*\.js:\d+/);
  });
});
