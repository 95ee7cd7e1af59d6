import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { AuthConfig, CheckpointConfig, Config, TokenConfig, TrustConfig, UpstreamConfig } from './types.js';
import { ConfigValidationError, Validator } from './validator.js';
import { parseDuration, parseSize } from './units.js';
import { validatePolicyRules } from '../policy/validate.js';
import { DEFAULT_ROOT } from '../verify/types.js';
import { loadSigningKey } from '../audit/checkpoint.js';

const TOP_LEVEL = [
  'listen', 'tls', 'storage', 'database', 'upstreams', 'defaultUpstream', 'policies', 'trust', 'auth', 'audit', 'log',
  'server',
] as const;
const UPSTREAM_KEYS = [
  'name', 'url', 'username', 'passwordEnv', 'tagTtl', 'connectTimeout', 'idleTimeout', 'retries', 'tagDrift',
] as const;
const ROOT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const UPSTREAM_NAME_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/;

/** Reads, validates and freezes a config file. Throws ConfigValidationError listing every problem. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const source = resolve(file);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(source, 'utf8'));
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigValidationError(source, [{ path: '(file)', message }]);
  }
  return parseConfig(raw, source, env);
}

export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const v = new Validator();
  const base = dirname(source);
  const at = (p: string) => resolve(base, p);
  const root = v.object(raw, '(root)') ?? {};
  v.unknownKeys(root, TOP_LEVEL, '');

  const listen = parseListen(v, root.listen ?? '0.0.0.0:5000');
  let tls: Config['tls'];
  if (root.tls !== undefined) {
    const t = v.object(root.tls, 'tls');
    const cert = v.string(t?.cert, 'tls.cert');
    const key = v.string(t?.key, 'tls.key');
    if (cert && key) tls = { cert: at(cert), key: at(key) };
  }
  const storageObj = v.object(root.storage ?? {}, 'storage') ?? {};
  const storagePath = v.string(storageObj.path ?? './data/store', 'storage.path') ?? '.';
  let maxSizeBytes: number | undefined;
  if (storageObj.maxSize !== undefined) {
    maxSizeBytes = parseSize(storageObj.maxSize as string | number);
    if (maxSizeBytes === undefined) v.error('storage.maxSize', 'must be a size such as "20GiB"');
  }
  let protectRecentMs: number | undefined;
  if (storageObj.protectRecent !== undefined) {
    protectRecentMs = typeof storageObj.protectRecent === 'string' ? parseDuration(storageObj.protectRecent) : undefined;
    if (protectRecentMs === undefined) v.error('storage.protectRecent', 'must be a duration such as "10m"');
  }
  const serverObj = v.object(root.server ?? {}, 'server') ?? {};
  v.unknownKeys(serverObj, ['headersTimeout', 'workers'], 'server');
  const cpus = availableParallelism();
  const workersRaw = serverObj.workers ?? cpus;
  const workers = typeof workersRaw === 'number' && Number.isInteger(workersRaw) && workersRaw >= 1 && workersRaw <= 256 ? workersRaw : undefined;
  if (workers === undefined) v.error('server.workers', 'must be a whole number of worker processes from 1 to 256');
  const headersRaw = serverObj.headersTimeout ?? '15s';
  const headersTimeoutMs = typeof headersRaw === 'string' ? parseDuration(headersRaw) : undefined;
  if (!headersTimeoutMs) v.error('server.headersTimeout', 'must be a positive duration such as "15s"');
  const database = parseDatabase(v, root.database ?? {}, at, env);

  const upstreams = parseUpstreams(v, root.upstreams, env);
  const defaultUpstream = v.string(root.defaultUpstream, 'defaultUpstream', { optional: true });
  if (defaultUpstream && !upstreams.some((u) => u.name === defaultUpstream)) {
    v.error('defaultUpstream', `names no upstream ("${defaultUpstream}")`);
  }

  const trust = parseTrust(v, root.trust, at);
  const policyResult = validatePolicyRules(root.policies ?? [], new Set(Object.keys(trust.keys)), knownRoots(trust));
  for (const e of policyResult.errors) v.error(e.path.startsWith('policies') ? e.path : `policies${e.path}`, e.message);

  const auth = parseAuth(v, root.auth, env);
  const auditObj = v.object(root.audit ?? {}, 'audit') ?? {};
  let retainDays: number | undefined;
  if (auditObj.retainDays !== undefined) {
    if (typeof auditObj.retainDays === 'number' && auditObj.retainDays > 0) retainDays = auditObj.retainDays;
    else v.error('audit.retainDays', 'must be a positive number of days');
  }
  const checkpoint = auditObj.checkpoint === undefined ? undefined : parseCheckpoint(v, auditObj.checkpoint, at);
  v.unknownKeys(auditObj, ['retainDays', 'checkpoint'], 'audit');
  const logObj = v.object(root.log ?? {}, 'log') ?? {};
  const level = v.oneOf(logObj.level ?? 'info', ['debug', 'info', 'warn', 'error'] as const, 'log.level') ?? 'info';

  if (v.errors.length > 0) throw new ConfigValidationError(source, v.errors);
  return deepFreeze({
    source,
    listen,
    tls,
    storage: { path: at(storagePath), maxSizeBytes, ...(protectRecentMs !== undefined ? { protectRecentMs } : {}) },
    server: { headersTimeoutMs: headersTimeoutMs ?? 15_000, workers: workers ?? 1 },
    database,
    upstreams,
    defaultUpstream,
    policies: policyResult.rules ?? [],
    trust,
    auth,
    audit: { retainDays, ...(checkpoint ? { checkpoint } : {}) },
    log: { level },
  });
}

/**
 * `audit.checkpoint`: `key` (an Ed25519 private key, PEM), `file` (optional) and `every`: a duration ("1m"),
 * a number of events (10000), or both as `{"time": "1m", "events": 10000}`; whichever comes first.
 */
function parseCheckpoint(v: Validator, value: unknown, at: (p: string) => string): CheckpointConfig | undefined {
  const o = v.object(value, 'audit.checkpoint');
  if (!o) return undefined;
  v.unknownKeys(o, ['key', 'file', 'every'], 'audit.checkpoint');
  const keyPath = v.string(o.key, 'audit.checkpoint.key');
  let key: string | undefined;
  if (keyPath) {
    key = at(keyPath);
    try {
      loadSigningKey(readFileSync(key));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      v.error('audit.checkpoint.key', e.code === 'ENOENT' ? `file not found (${key})` : e.code === 'EACCES' ? `cannot be read (${key})` : `${key}: ${e.message}`);
    }
  }
  const file = v.string(o.file, 'audit.checkpoint.file', { optional: true });
  let everyMs = 60_000;
  let everyEvents = 10_000;
  const every = o.every;
  const time = (t: unknown, path: string) => {
    const ms = typeof t === 'string' ? parseDuration(t) : undefined;
    if (!ms || ms < 1000) v.error(path, 'must be a duration of at least a second, such as "1m"');
    else everyMs = ms;
  };
  const events = (n: unknown, path: string) => {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) v.error(path, 'must be a whole number of events, at least 1');
    else everyEvents = n;
  };
  if (typeof every === 'string') time(every, 'audit.checkpoint.every');
  else if (typeof every === 'number') events(every, 'audit.checkpoint.every');
  else if (every !== undefined) {
    const e = v.object(every, 'audit.checkpoint.every');
    if (e) {
      v.unknownKeys(e, ['time', 'events'], 'audit.checkpoint.every');
      if (e.time !== undefined) time(e.time, 'audit.checkpoint.every.time');
      if (e.events !== undefined) events(e.events, 'audit.checkpoint.every.events');
    }
  }
  if (!key) return undefined;
  return { key, ...(file ? { file: at(file) } : {}), everyMs, everyEvents };
}

/** SQLite at `path` (the default), or PostgreSQL at `url` / the URL in the environment variable `urlEnv`. */
function parseDatabase(v: Validator, value: unknown, at: (p: string) => string, env: NodeJS.ProcessEnv): Config['database'] {
  const o = v.object(value, 'database') ?? {};
  v.unknownKeys(o, ['path', 'url', 'urlEnv'], 'database');
  const given = ['path', 'url', 'urlEnv'].filter((k) => o[k] !== undefined);
  if (given.length > 1) v.error('database', `set only one of ${given.join(', ')}`);
  let url: string | undefined;
  if (o.urlEnv !== undefined) {
    const name = v.string(o.urlEnv, 'database.urlEnv');
    url = name ? env[name] : undefined;
    if (name && !url) v.error('database.urlEnv', `environment variable ${name} is not set`);
  } else if (o.url !== undefined) {
    url = v.string(o.url, 'database.url');
  }
  if (url !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(url)) v.error(o.urlEnv !== undefined ? 'database.urlEnv' : 'database.url', 'must be a postgres:// or postgresql:// URL');
    return { url };
  }
  return { path: at(v.string(o.path ?? './data/portcullis.db', 'database.path') ?? '.') };
}

function parseListen(v: Validator, value: unknown): Config['listen'] {
  const s = v.string(value, 'listen');
  const m = s ? /^(.*):(\d{1,5})$/.exec(s) : null;
  if (!m || Number(m[2]) > 65535) {
    if (s) v.error('listen', 'must be "host:port"');
    return { host: '0.0.0.0', port: 5000 };
  }
  return { host: m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
}

function parseUpstreams(v: Validator, value: unknown, env: NodeJS.ProcessEnv): UpstreamConfig[] {
  const list = v.array(value, 'upstreams') ?? [];
  if (list.length === 0 && Array.isArray(value)) v.error('upstreams', 'must list at least one upstream');
  const seen = new Set<string>();
  const out: UpstreamConfig[] = [];
  list.forEach((item, i) => {
    const p = `upstreams[${i}]`;
    const o = v.object(item, p);
    if (!o) return;
    v.unknownKeys(o, UPSTREAM_KEYS, p);
    const name = v.string(o.name, `${p}.name`);
    if (name && !UPSTREAM_NAME_RE.test(name)) v.error(`${p}.name`, 'must be a registry host name such as "ghcr.io"');
    if (name && seen.has(name)) v.error(`${p}.name`, `duplicates upstream "${name}"`);
    if (name) seen.add(name);
    const url = v.string(o.url, `${p}.url`);
    if (url) {
      try {
        const u = new URL(url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') v.error(`${p}.url`, 'must be an http or https URL');
        if (u.username || u.password) v.error(`${p}.url`, 'must not contain credentials; use username and passwordEnv');
      } catch {
        v.error(`${p}.url`, 'must be a URL');
      }
    }
    const username = v.string(o.username, `${p}.username`, { optional: true });
    const passwordEnv = v.string(o.passwordEnv, `${p}.passwordEnv`, { optional: true });
    let password: string | undefined;
    if (passwordEnv) {
      password = env[passwordEnv];
      if (password === undefined) v.error(`${p}.passwordEnv`, `environment variable ${passwordEnv} is not set`);
    }
    if (passwordEnv && !username) v.error(`${p}.username`, 'is required with passwordEnv');
    const duration = (key: string, fallback: string) => {
      const raw = o[key] ?? fallback;
      const ms = typeof raw === 'string' ? parseDuration(raw) : undefined;
      if (ms === undefined) v.error(`${p}.${key}`, 'must be a duration such as "30s" or "5m"');
      return ms ?? 0;
    };
    const retries = o.retries ?? 2;
    if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 10) {
      v.error(`${p}.retries`, 'must be an integer from 0 to 10');
    }
    const tagDrift = v.oneOf(o.tagDrift ?? 'follow', ['follow', 'keep-verified', 'deny'] as const, `${p}.tagDrift`) ?? 'follow';
    out.push({
      name: name ?? '',
      url: (url ?? '').replace(/\/+$/, ''),
      username,
      password,
      tagTtlMs: duration('tagTtl', '5m'),
      connectTimeoutMs: duration('connectTimeout', '10s'),
      idleTimeoutMs: duration('idleTimeout', '30s'),
      retries: typeof retries === 'number' ? retries : 2,
      tagDrift,
    });
  });
  return out;
}

function parseTrust(v: Validator, value: unknown, at: (p: string) => string): TrustConfig {
  const o = v.object(value ?? {}, 'trust') ?? {};
  v.unknownKeys(o, ['trustedRoot', 'roots', 'keys', 'verifyTtl'], 'trust');
  const rootValue = v.string(o.trustedRoot ?? 'public-good', 'trust.trustedRoot') ?? 'public-good';
  const trustedRoot = rootValue === 'public-good' ? rootValue : at(rootValue);
  const roots: Record<string, string> = {};
  for (const [name, path] of Object.entries(v.object(o.roots ?? {}, 'trust.roots') ?? {})) {
    const p = `trust.roots.${name}`;
    if (!ROOT_NAME_RE.test(name) || name === DEFAULT_ROOT) v.error(p, `must be named with letters, digits, ".", "_" or "-", and not "${DEFAULT_ROOT}" (the name of trust.trustedRoot)`);
    else if (typeof path !== 'string' || !path) v.error(p, 'must be a path to a trusted_root.json or a .jsonl of roots');
    else if (path === 'public-good') v.error(p, 'must be a file: "public-good" is only for trust.trustedRoot');
    else roots[name] = at(path);
  }
  const keys: Record<string, string> = {};
  const keyObj = v.object(o.keys ?? {}, 'trust.keys') ?? {};
  for (const [name, ref] of Object.entries(keyObj)) {
    const p = `trust.keys.${name}`;
    if (typeof ref !== 'string' || ref.length === 0) {
      v.error(p, 'must be a PEM public key or a path to one');
      continue;
    }
    if (ref.includes('-----BEGIN')) {
      keys[name] = ref;
      continue;
    }
    try {
      keys[name] = readFileSync(at(ref), 'utf8');
    } catch (err) {
      v.error(p, `cannot read ${at(ref)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const ttlRaw = o.verifyTtl ?? '1h';
  const verifyTtlMs = typeof ttlRaw === 'string' ? parseDuration(ttlRaw) : undefined;
  if (verifyTtlMs === undefined) v.error('trust.verifyTtl', 'must be a duration such as "1h"');
  return { trustedRoot, roots, keys, verifyTtlMs: verifyTtlMs ?? 3_600_000 };
}

/** The root names a keyless entry may give: the default and every trust.roots name. */
export function knownRoots(trust: TrustConfig): ReadonlySet<string> {
  return new Set([DEFAULT_ROOT, ...Object.keys(trust.roots ?? {})]);
}

function parseAuth(v: Validator, value: unknown, env: NodeJS.ProcessEnv): AuthConfig {
  const o = v.object(value ?? {}, 'auth') ?? {};
  v.unknownKeys(o, ['pull', 'tokens'], 'auth');
  const pull = v.oneOf(o.pull ?? 'anonymous', ['anonymous', 'token'] as const, 'auth.pull') ?? 'anonymous';
  const tokens: TokenConfig[] = [];
  const names = new Set<string>();
  (v.array(o.tokens ?? [], 'auth.tokens') ?? []).forEach((item, i) => {
    const p = `auth.tokens[${i}]`;
    const t = v.object(item, p);
    if (!t) return;
    v.unknownKeys(t, ['name', 'role', 'tokenEnv', 'tokenSha256'], p);
    const name = v.string(t.name, `${p}.name`);
    if (name && names.has(name)) v.error(`${p}.name`, `duplicates token "${name}"`);
    if (name) names.add(name);
    const role = v.oneOf(t.role, ['admin', 'auditor', 'puller'] as const, `${p}.role`);
    let tokenSha256: string | undefined;
    if (typeof t.tokenSha256 === 'string') {
      if (/^[a-f0-9]{64}$/.test(t.tokenSha256)) tokenSha256 = t.tokenSha256;
      else v.error(`${p}.tokenSha256`, 'must be 64 lowercase hex characters');
    } else if (typeof t.tokenEnv === 'string') {
      const secret = env[t.tokenEnv];
      if (!secret) v.error(`${p}.tokenEnv`, `environment variable ${t.tokenEnv} is not set`);
      else tokenSha256 = createHash('sha256').update(secret).digest('hex');
    } else {
      v.error(p, 'needs tokenEnv or tokenSha256');
    }
    if (name && role && tokenSha256) tokens.push({ name, role, tokenSha256 });
  });
  if (pull === 'token' && tokens.length === 0) v.error('auth.tokens', 'must list at least one token when pull is "token"');
  return { pull, tokens };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
