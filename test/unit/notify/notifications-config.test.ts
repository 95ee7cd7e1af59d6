import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { ConfigValidationError } from '../../../src/config/validator.js';
import { router } from '../../../src/notify/routing.js';
import { sign, verifySignature } from '../../../src/notify/cloud-event.js';

const minimal = {
  upstreams: [{ name: 'docker.io', url: 'https://registry-1.docker.io' }],
  policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
};
const hook = { url: 'https://hooks.example.com/p', events: ['pull.manifest'], secretEnv: 'HOOK_SECRET' };

function errorsOf(notifications: unknown, env: NodeJS.ProcessEnv = { HOOK_SECRET: 's' }): string[] {
  try {
    parseConfig({ ...minimal, notifications }, '/etc/portcullis/config.json', env);
    return [];
  } catch (e) {
    return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
  }
}

describe('notifications settings', () => {
  it('applies defaults, names a webhook by its host, and keeps the key from the environment', () => {
    const c = parseConfig({ ...minimal, notifications: { webhooks: [hook] } }, '/etc/portcullis/config.json', { HOOK_SECRET: 'k1' });
    expect(c.notifications).toEqual({
      webhooks: [{ name: 'hooks.example.com', url: hook.url, events: ['pull.manifest'], decisions: undefined, secret: 'k1', headers: {} }],
      timeoutMs: 10_000, retryBackoffMs: 10_000, maxAttempts: 12, maxPending: 10_000,
    });
  });

  it('refuses bad webhooks with a clear error each', () => {
    expect(errorsOf({ webhooks: [{ ...hook, url: 'ftp://x' }] })).toEqual(['notifications.webhooks[0].url: must be an http or https URL']);
    expect(errorsOf({ webhooks: [{ ...hook, url: 'https://user:pw@x/' }] })).toEqual(['notifications.webhooks[0].url: must not contain credentials; use username and passwordEnv']);
    expect(errorsOf({ webhooks: [{ ...hook, events: [] }] })).toEqual(['notifications.webhooks[0].events: must list at least one event kind or glob']);
    expect(errorsOf({ webhooks: [{ ...hook, events: ['Pull Manifest'] }] })[0]).toMatch(/events\[0\]: must be an audit event kind or a glob/);
    expect(errorsOf({ webhooks: [{ ...hook, decisions: ['block'] }] })[0]).toMatch(/decisions\[0\]: must be one of "allow", "deny", "warn"/);
    expect(errorsOf({ webhooks: [{ ...hook, headers: { 'Content-Type': 'text/plain' } }] })[0]).toMatch(/headers: must not set content-type/);
    expect(errorsOf({ webhooks: [{ ...hook, headers: { 'x-a': 'one\r\nInjected: yes' } }] })[0]).toMatch(/must be one line/);
    expect(errorsOf({ webhooks: [hook] }, {})).toEqual(['notifications.webhooks[0].secretEnv: environment variable HOOK_SECRET is not set']);
    expect(errorsOf({ webhooks: [hook, hook] })).toEqual(['notifications.webhooks[1].name: another webhook is also named "hooks.example.com" (its host): give each a name']);
    expect(errorsOf({ webhooks: [hook], timeout: '10ms', maxPending: 0 })).toEqual([
      'notifications.timeout: must be a duration such as "30s", "15m", "4h" or "7d" (from 100ms to 5m)',
      'notifications.maxPending: must be a whole number from 1 to 1000000',
    ]);
  });
});

describe('routing and signatures', () => {
  it('matches kinds by glob and decisions only where an event carries one', () => {
    const route = router([
      { name: 'denials', url: '', secret: '', headers: {}, events: ['pull.*'], decisions: ['deny'] },
      { name: 'changes', url: '', secret: '', headers: {}, events: ['policy.*', 'exception.*', 'tag.drift'] },
    ]);
    expect(route({ kind: 'pull.manifest', decision: 'deny' })).toEqual(['denials']);
    expect(route({ kind: 'pull.manifest', decision: 'allow' })).toEqual([]);
    expect(route({ kind: 'policy.update', decision: null })).toEqual(['changes']);
    expect(route({ kind: 'policyXupdate', decision: null })).toEqual([]);
    expect(route({ kind: 'tag.drift', decision: null })).toEqual(['changes']);
    expect(route({ kind: 'tag.drifted', decision: null })).toEqual([]);
  });

  it('verifies a signature over the exact body and refuses a changed body, key or old timestamp', () => {
    const body = '{"id":"1"}';
    const now = 1_800_000_000;
    const header = sign('key', body, now);
    expect(verifySignature('key', body, header, now + 10)).toBe(true);
    expect(verifySignature('key', '{"id":"2"}', header, now)).toBe(false);
    expect(verifySignature('other', body, header, now)).toBe(false);
    expect(verifySignature('key', body, header, now + 3600)).toBe(false);
    expect(verifySignature('key', body, 't=x,v1=zz', now)).toBe(false);
  });
});
