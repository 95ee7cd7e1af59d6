import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { loadConfigFile, parseConfig } from '../../../src/config/load.js';
import { ConfigValidationError } from '../../../src/config/validator.js';

const minimal = {
  upstreams: [{ name: 'docker.io', url: 'https://registry-1.docker.io' }],
  policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
};

function errorsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, '/etc/portcullis/config.json', env);
    return [];
  } catch (e) {
    return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
  }
}

describe('config', () => {
  it('resolves relative paths against the config folder and applies defaults', () => {
    const c = parseConfig({ ...minimal, storage: { path: './store', maxSize: '2GiB' } }, '/etc/portcullis/config.json', {});
    expect(c.storage.path).toBe('/etc/portcullis/store');
    expect(c.storage.maxSizeBytes).toBe(2 * 1024 ** 3);
    expect(c.database.path).toBe('/etc/portcullis/data/portcullis.db');
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(c.upstreams[0]!.tagTtlMs).toBe(300_000);
    expect(Object.isFrozen(c.upstreams[0])).toBe(true);
  });

  it('bounds layer counts and artifact blobs, and sweeps stale blob links, by default and as set', () => {
    const d = parseConfig(minimal, '/etc/portcullis/config.json', {});
    expect(d.pull).toEqual({ maxLayers: 1000, maxArtifactBytes: 16 * 1024 ** 2, prefetchBlobs: false });
    expect(d.storage.linkRetentionMs).toBe(30 * 86_400_000);
    const c = parseConfig({ ...minimal, pull: { maxLayers: 200, maxArtifactSize: '4MiB', prefetchBlobs: true }, storage: { linkRetention: '7d' } }, '/etc/portcullis/config.json', {});
    expect(c.pull).toEqual({ maxLayers: 200, maxArtifactBytes: 4 * 1024 ** 2, prefetchBlobs: true });
    expect(c.storage.linkRetentionMs).toBe(7 * 86_400_000);
    expect(errorsOf({ ...minimal, pull: { maxLayers: 0, maxArtifactSize: 'big', prefetchBlobs: 'yes' }, storage: { linkRetention: '1h' } })).toEqual([
      'storage.linkRetention: must be a duration such as "30s", "15m", "4h" or "7d" (at least 1d)',
      'pull.maxLayers: must be a whole number from 1 to 100000',
      'pull.maxArtifactSize: must be a size such as "16MiB"',
      'pull.prefetchBlobs: must be true or false',
    ]);
  });

  it('reports every error at once, each with its path', () => {
    const errors = errorsOf({
      listen: 'nope',
      upstreams: [{ name: 'Bad Name', url: 'ftp://x', tagTtl: 'soon' }, { url: 'https://user:pw@h' }],
      defaultUpstream: 'missing',
      policies: [{ name: 'x', match: ['**'], mode: 'sometimes' }],
      surprise: true,
    });
    expect(errors).toEqual(
      expect.arrayContaining([
        'listen: must be "host:port"',
        'upstreams[0].name: must be a registry host name such as "ghcr.io"',
        'upstreams[0].url: must be an http or https URL',
        expect.stringMatching(/^upstreams\[0\]\.tagTtl: /),
        'upstreams[1].name: is required',
        'upstreams[1].url: must not contain credentials; use username and passwordEnv',
        'defaultUpstream: names no upstream ("missing")',
        expect.stringMatching(/^policies\[0\]\.mode: /),
        'surprise: unknown setting',
      ]),
    );
  });

  it('reads upstream secrets from the environment and hashes API tokens', () => {
    const raw = {
      ...minimal,
      upstreams: [{ name: 'ghcr.io', url: 'https://ghcr.io', username: 'u', passwordEnv: 'GHCR_PW' }],
      auth: { pull: 'token', tokens: [{ name: 'ci', role: 'puller', tokenEnv: 'CI_TOKEN' }] },
    };
    const c = parseConfig(raw, '/x/c.json', { GHCR_PW: 'secret', CI_TOKEN: 'tok' });
    expect(c.upstreams[0]!.password).toBe('secret');
    expect(c.auth.tokens[0]!.tokenSha256).toMatch(/^[a-f0-9]{64}$/);
    expect(JSON.stringify(c.auth)).not.toContain('tok"');
    expect(errorsOf(raw, {})).toEqual(
      expect.arrayContaining(['upstreams[0].passwordEnv: environment variable GHCR_PW is not set']),
    );
  });

  it('names the file when it cannot be read or parsed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, '{ not json');
    expect(() => loadConfigFile(file)).toThrow(ConfigValidationError);
    expect(() => loadConfigFile(join(dir, 'missing.json'))).toThrow(/file not found/);
  });

  it('accepts a $schema key (editors use it) and still refuses other unknown keys', () => {
    expect(() => parseConfig({ ...minimal, $schema: './config.schema.json' }, '/x/c.json', {})).not.toThrow();
    expect(errorsOf({ ...minimal, $schemas: 'x', storage: { path: 'a', size: 1 } })).toEqual(['$schemas: unknown setting (did you mean $schema?)', 'storage.size: unknown setting']);
  });

  it('suggests the setting a misspelt key probably is, by its full path, at any depth', () => {
    expect(errorsOf({ ...minimal, server: { wokers: 2 }, lisen: '0.0.0.0:5000' })).toEqual([
      'lisen: unknown setting (did you mean listen?)',
      'server.wokers: unknown setting (did you mean server.workers?)',
    ]);
    const upstreams = [{ name: 'upstream.test', url: 'https://u.test', tagTTL: '1m' }];
    expect(errorsOf({ ...minimal, upstreams, audit: { checkpoint: { key: 'k.pem', evry: '1m' } } })).toEqual(expect.arrayContaining([
      'upstreams[0].tagTTL: unknown setting (did you mean upstreams[0].tagTtl?)',
      'audit.checkpoint.evry: unknown setting (did you mean audit.checkpoint.every?)',
    ]));
  });

  it('loads without the token and upstream password variables only when asked to (read-only commands)', () => {
    const raw = {
      ...minimal,
      upstreams: [{ name: 'ghcr.io', url: 'https://ghcr.io', username: 'u', passwordEnv: 'GHCR_PW' }],
      auth: { pull: 'token', tokens: [{ name: 'ci', role: 'puller', tokenEnv: 'CI_TOKEN' }, { name: 'ops', role: 'admin', tokenSha256: 'a'.repeat(64) }] },
      database: { urlEnv: 'DB_URL' },
    };
    const c = parseConfig(raw, '/x/c.json', { DB_URL: 'postgres://db/portcullis' }, { secrets: 'optional' });
    expect(c.upstreams[0]!.password).toBeUndefined();
    expect(c.auth.tokens.map((t) => t.name)).toEqual(['ops']);
    expect(c.database.url).toBe('postgres://db/portcullis');
    // The database is still needed, and serving still needs every secret.
    expect(() => parseConfig(raw, '/x/c.json', {}, { secrets: 'optional' })).toThrow(/database\.urlEnv: environment variable DB_URL is not set/);
    expect(errorsOf(raw, { DB_URL: 'postgres://db/portcullis' })).toEqual([
      'upstreams[0].passwordEnv: environment variable GHCR_PW is not set',
      'auth.tokens[0].tokenEnv: environment variable CI_TOKEN is not set',
    ]);
  });

  it('accepts the example config shipped with the project', () => {
    const c = loadConfigFile(join(import.meta.dirname, '../../../config.example.json'));
    expect(c.upstreams.map((u) => u.name)).toContain('docker.io');
  });
});

describe('config: several trusted roots', () => {
  const keyless = (root?: string) => ({ keyless: { ...(root && { root }), issuer: 'https://token.actions.githubusercontent.com', subject: 'x' } });
  const rule = (root?: string) => ({ name: 'r', match: ['**'], mode: 'enforce', signatures: { anyOf: [keyless(root)] } });

  it('resolves trust.roots against the config folder, and keyless entries may name them', () => {
    const c = parseConfig(
      { ...minimal, trust: { roots: { github: 'trust/github-trusted-root.jsonl', corp: '/srv/corp.json' } }, policies: [rule('github'), { ...rule('corp'), name: 's' }, { ...rule(), name: 't' }] },
      '/etc/portcullis/config.json',
      {},
    );
    expect(c.trust.roots).toEqual({ github: '/etc/portcullis/trust/github-trusted-root.jsonl', corp: '/srv/corp.json' });
    expect(c.trust.trustedRoot).toBe('public-good');
  });

  it('reports unknown roots, reserved names and public-good outside trustedRoot with their paths', () => {
    const errors = errorsOf({ ...minimal, trust: { roots: { default: 'a.json', 'bad name': 'b.json', pg: 'public-good', empty: '' } }, policies: [rule('corp')] });
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^trust\.roots\.default: must be named/),
        expect.stringMatching(/^trust\.roots\.bad name: must be named/),
        expect.stringMatching(/^trust\.roots\.pg: must be a file/),
        expect.stringMatching(/^trust\.roots\.empty: must be a path/),
        'policies[0].signatures.anyOf[0].keyless.root: unknown root "corp" (not "default" or in trust.roots)',
      ]),
    );
  });

  it('reports baseImage errors at load with their paths', () => {
    const bad = { name: 'base', match: ['**'], mode: 'enforce', baseImage: { maxBehindDays: 'two weeks', requireAnnotation: 1 } };
    expect(errorsOf({ ...minimal, policies: [bad] })).toEqual([
      'policies[0].baseImage.maxBehindDays: must be a number of days (0 or more)',
      'policies[0].baseImage.requireAnnotation: must be true or false',
    ]);
  });

  it('reads audit.checkpoint: the Ed25519 key checked at load, the file and how often, with paths on every error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-checkpoint-'));
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(dir, 'ed.pem'), ed);
    writeFileSync(join(dir, 'ec.pem'), ec);
    const source = join(dir, 'config.json');
    const c = parseConfig({ ...minimal, audit: { checkpoint: { key: 'ed.pem', file: 'cp.jsonl' } } }, source, {});
    expect(c.audit.checkpoint).toEqual({ key: join(dir, 'ed.pem'), file: join(dir, 'cp.jsonl'), everyMs: 60_000, everyEvents: 10_000 });
    const both = parseConfig({ ...minimal, audit: { checkpoint: { key: 'ed.pem', every: { time: '5m', events: 50 } } } }, source, {});
    expect(both.audit.checkpoint).toMatchObject({ everyMs: 300_000, everyEvents: 50 });
    expect(parseConfig({ ...minimal, audit: { checkpoint: { key: 'ed.pem', every: 500 } } }, source, {}).audit.checkpoint).toMatchObject({ everyMs: 60_000, everyEvents: 500 });
    const errors = (checkpoint: unknown) => {
      try {
        parseConfig({ ...minimal, audit: { checkpoint } }, source, {});
        return [];
      } catch (e) {
        return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
      }
    };
    expect(errors({ key: 'ec.pem' })).toEqual([expect.stringMatching(/^audit\.checkpoint\.key: .*must be an Ed25519 private key/)]);
    expect(errors({ key: 'missing.pem' })).toEqual([expect.stringMatching(/^audit\.checkpoint\.key: file not found/)]);
    expect(errors({ file: 'cp.jsonl', every: '10ms', extra: 1 })).toEqual(expect.arrayContaining([
      'audit.checkpoint.key: is required',
      expect.stringMatching(/^audit\.checkpoint\.every: must be a duration/),
      'audit.checkpoint.extra: unknown setting',
    ]));
    expect(errors({ key: 'ed.pem', every: { events: 0, time: 'soon' } })).toEqual(expect.arrayContaining([
      expect.stringMatching(/^audit\.checkpoint\.every\.events: /),
      expect.stringMatching(/^audit\.checkpoint\.every\.time: /),
    ]));
  });

  it('reads upstreams[].tagDrift, follow by default, and names a wrong value by its path', () => {
    const c = parseConfig({ ...minimal, upstreams: [minimal.upstreams[0], { name: 'ghcr.io', url: 'https://ghcr.io', tagDrift: 'keep-verified' }] }, '/etc/portcullis/config.json', {});
    expect(c.upstreams.map((u) => u.tagDrift)).toEqual(['follow', 'keep-verified']);
    expect(errorsOf({ ...minimal, upstreams: [{ ...minimal.upstreams[0], tagDrift: 'pin' }] })).toEqual([
      'upstreams[0].tagDrift: must be one of "follow", "keep-verified", "deny"',
    ]);
  });

  it('reads the upstream time and connection limits and the referrer bounds, with defaults and paths on errors', () => {
    const c = parseConfig(
      { ...minimal, upstreams: [minimal.upstreams[0], { name: 'ghcr.io', url: 'https://ghcr.io', metadataDeadline: '5s', blobMinRate: '1MiB', blobRateWindow: '10s', maxConnections: 8, maxConnectionsPerRepository: 2 }],
        trust: { referrers: { maxCount: 500, maxBytes: '1MiB', maxReportBytes: '96MiB' } } },
      '/etc/portcullis/config.json',
      {},
    );
    const [hub, ghcr] = c.upstreams;
    expect(hub).toMatchObject({ metadataDeadlineMs: 30_000, blobMinBytesPerSecond: 16 * 1024, blobRateWindowMs: 30_000, maxConnections: 64, maxConnectionsPerRepository: 16 });
    expect(ghcr).toMatchObject({ metadataDeadlineMs: 5_000, blobMinBytesPerSecond: 1024 * 1024, blobRateWindowMs: 10_000, maxConnections: 8, maxConnectionsPerRepository: 2 });
    expect(c.trust.referrers).toEqual({ maxCount: 500, maxBytes: 1024 * 1024, maxReportBytes: 96 * 1024 * 1024, maxPages: 8, maxDepth: 1 });
    expect(errorsOf({
      ...minimal,
      upstreams: [{ ...minimal.upstreams[0], metadataDeadline: '10ms', blobMinRate: 'fast', maxConnectionsPerRepository: 0 }],
      trust: { referrers: { maxDepth: 9, maxReportBytes: '1B', extra: 1 } },
    })).toEqual(expect.arrayContaining([
      'upstreams[0].metadataDeadline: must be a duration such as "30s", "15m", "4h" or "7d" (at least 1s)',
      'upstreams[0].blobMinRate: must be a size per second such as "16KiB"',
      'upstreams[0].maxConnectionsPerRepository: must be an integer from 1 to 1024',
      'trust.referrers.maxDepth: must be an integer from 1 to 4',
      'trust.referrers.maxReportBytes: must be a size of at least 1KiB such as "64MiB"',
      'trust.referrers.extra: unknown setting',
    ]));
  });
});

describe('request limits and client addresses', () => {
  it('takes trusted proxies as addresses and CIDR ranges, and refuses anything else with its path', () => {
    const c = parseConfig({ ...minimal, server: { trustedProxies: ['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1'] } }, '/etc/p.json', {});
    expect(c.server?.trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1']);
    expect(parseConfig(minimal, '/etc/p.json', {}).server?.trustedProxies).toEqual([]);
    expect(errorsOf({ ...minimal, server: { trustedProxies: ['10.0.0.0/33', 'proxy.local', '1.2.3.4/8/1', 7] } })).toEqual([
      'server.trustedProxies[0]: must be an IP address or a CIDR range such as "10.0.0.0/8"',
      'server.trustedProxies[1]: must be an IP address or a CIDR range such as "10.0.0.0/8"',
      'server.trustedProxies[2]: must be an IP address or a CIDR range such as "10.0.0.0/8"',
      'server.trustedProxies[3]: must be an IP address or a CIDR range such as "10.0.0.0/8"',
    ]);
  });

  it('bounds requests and connections per client by default, and refuses a request timeout shorter than the headers timeout', () => {
    const c = parseConfig(minimal, '/etc/p.json', {});
    expect(c.server).toMatchObject({ headersTimeoutMs: 15_000, requestTimeoutMs: 30_000, maxConnectionsPerClient: 128 });
    expect(parseConfig({ ...minimal, server: { requestTimeout: '2m', maxConnectionsPerClient: 1000 } }, '/etc/p.json', {}).server)
      .toMatchObject({ requestTimeoutMs: 120_000, maxConnectionsPerClient: 1000 });
    expect(errorsOf({ ...minimal, server: { headersTimeout: '20s', requestTimeout: '10s' } })).toEqual([
      'server.requestTimeout: must not be shorter than server.headersTimeout (20s): a request\'s headers are part of it',
    ]);
    expect(errorsOf({ ...minimal, server: { maxConnectionsPerClient: 0 } })).toEqual(['server.maxConnectionsPerClient: must be a whole number from 1 to 100000']);
  });

  it('caps live audit streams per identity, 5 unless set', () => {
    expect(parseConfig(minimal, '/etc/p.json', {}).audit.liveStreamsPerIdentity).toBe(5);
    expect(parseConfig({ ...minimal, audit: { liveStreamsPerIdentity: 2 } }, '/etc/p.json', {}).audit.liveStreamsPerIdentity).toBe(2);
    expect(errorsOf({ ...minimal, audit: { liveStreamsPerIdentity: 0 } })).toEqual(['audit.liveStreamsPerIdentity: must be a whole number from 1 to 50']);
  });
});
