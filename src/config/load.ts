import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import type { AuthConfig, CheckpointConfig, Config, TokenConfig, TrustConfig, UpstreamConfig } from './types.js';
import { ConfigValidationError, type ConfigError } from './validator.js';
import { configSchema, type RawConfig } from './schema.js';
import { parseDuration, parseSize } from './units.js';
import { unknownSettingMessage } from './known-keys.js';
import { validatePolicyRules } from '../policy/validate.js';
import { regExpError } from '../policy/identity-match.js';
import { globError } from '../policy/match.js';
import { DEFAULT_ROOT } from '../verify/types.js';
import { loadSigningKey } from '../audit/checkpoint.js';
import { checkS3Storage } from './s3-storage.js';
import { oidcConsoleOf } from './oidc-console-schema.js';
import { isRepositoryName } from '../oci/reference.js';
import { checkNotifications } from './notifications.js';
import { checkOidcIssuers } from './oidc-issuers.js';

const ROOT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface LoadOptions {
  /**
   * `required` (the default): every `tokenEnv` and `passwordEnv` variable must be set and the checkpoint key
   * readable, as serving needs. `optional`: for read-only commands, which need neither; tokens whose variable
   * is unset are left out and upstream passwords stay unset. The database (`database.urlEnv`) is always needed.
   */
  secrets?: 'required' | 'optional';
}

/** For commands that only read the database (audit, policy show): no serving secrets needed. */
export const READ_ONLY: LoadOptions = Object.freeze({ secrets: 'optional' });

/** Reads, validates and freezes a config file. Throws ConfigValidationError listing every problem. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Config {
  const source = resolve(file);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(source, 'utf8'));
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    throw new ConfigValidationError(source, [{ path: '(file)', message }]);
  }
  return parseConfig(raw, source, env, opts);
}

type Sections = { [K in keyof RawConfig]-?: RawConfig[K] | undefined };

/**
 * The schema checks the file's shape section by section (so one broken section does not hide the others'
 * problems); then what needs the environment, files or several sections at once is checked here.
 */
export function parseConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): Config {
  const errors: ConfigError[] = [];
  const error = (path: string, message: string) => errors.push({ path, message });
  const at = (p: string) => resolve(dirname(source), p);
  const secretsRequired = opts.secrets !== 'optional';

  const root = isObject(raw) ? raw : {};
  if (!isObject(raw)) error('(root)', 'must be an object');
  const shape = configSchema.shape;
  for (const key of Object.keys(root)) if (!(key in shape)) error(key, unknownSettingMessage(configSchema, [], key, pathOf));
  const s = {} as Record<string, unknown>;
  for (const [key, schema] of Object.entries(shape) as [keyof RawConfig, z.ZodType][]) {
    const result = schema.safeParse(root[key]);
    if (result.success) s[key] = result.data;
    else errors.push(...toErrors(result.error.issues, key));
  }
  const sections = s as Sections;

  const database = checkDatabase(sections.database, at, env, error);
  const upstreamSecrets = checkUpstreams(root.upstreams, env, secretsRequired, error);
  const upstreamNames = new Set(listOf(root.upstreams).map((u) => u.name).filter((n) => typeof n === 'string'));
  if (typeof root.defaultUpstream === 'string' && !upstreamNames.has(root.defaultUpstream)) {
    error('defaultUpstream', `names no upstream ("${root.defaultUpstream}")`);
  }
  sections.prefetch?.lists.forEach((list, i) => list.images.forEach((e, j) => {
    const problem = prefetchRepositoryProblem(e.repository, upstreamNames, typeof root.defaultUpstream === 'string');
    if (problem) error(`prefetch.lists[${i}].images[${j}].repository`, problem);
  }));
  const server = sections.server;
  if (server && (parseDuration(server.headersTimeout) ?? 0) > (parseDuration(server.requestTimeout) ?? Infinity)) {
    error('server.requestTimeout', `must not be shorter than server.headersTimeout (${server.headersTimeout}): a request's headers are part of it`);
  }
  // nginx reads files under storage.path; blobs kept in object storage are not there.
  if (isObject(root.storage) && isObject(root.storage.offload) && root.storage.s3 !== undefined) {
    error('storage.offload', 'cannot be used with storage.s3: nginx serves files from storage.path, and object storage has none there');
  }
  // Only requests from nginx may be answered with X-Accel-Redirect; the proxy knows nginx by its address.
  if (isObject(root.storage) && isObject(root.storage.offload) && (!isObject(root.server) || !Array.isArray(root.server.trustedProxies) || root.server.trustedProxies.length === 0)) {
    error('storage.offload', 'needs server.trustedProxies listing the nginx in front: only requests that come through it are answered with X-Accel-Redirect (a client reaching the proxy directly gets the bytes), so without it nothing would be offloaded');
  }
  const trustFiles = checkTrust(root.trust, at, error);
  const policyResult = validatePolicyRules(root.policies ?? [], new Set(Object.keys(trustFiles.keys)), new Set([DEFAULT_ROOT, ...Object.keys(trustFiles.roots)]));
  for (const e of policyResult.errors) error(e.path.startsWith('policies') ? e.path : `policies${e.path}`, e.message);
  const tokens = checkTokens(root.auth, env, secretsRequired, error);
  const oidcConsole = sections.auth?.oidc?.console ? oidcConsoleOf(sections.auth.oidc.console, env, secretsRequired, error) : undefined;
  const oidcIssuers = checkOidcIssuers(sections.auth?.oidc?.issuers ?? [], at, { regExpError, globError }, error);
  const checkpoint = sections.audit?.checkpoint ? checkpointOf(sections.audit.checkpoint, at, secretsRequired, error) : undefined;

  const notifications = checkNotifications(sections.notifications, env, secretsRequired, error);
  const exportKey = sections.export?.signingKey ? at(sections.export.signingKey) : undefined;
  if (exportKey && secretsRequired) {
    try {
      loadSigningKey(readFileSync(exportKey));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      error('export.signingKey', e.code === 'ENOENT' ? `file not found (${exportKey})` : e.code === 'EACCES' ? `cannot be read (${exportKey})` : `${exportKey}: ${e.message}`);
    }
  }
  const s3 = sections.storage?.s3 ? checkS3Storage(sections.storage.s3, env, secretsRequired, error) : undefined;

  if (errors.length > 0) throw new ConfigValidationError(source, dedupe(errors));
  const listen = /^(.*):(\d{1,5})$/.exec(sections.listen!)!;
  const storage = sections.storage!;
  const trust = sections.trust ?? { trustedRoot: 'public-good', verifyTtl: '1h' };
  return deepFreeze({
    source,
    listen: { host: listen[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(listen[2]) },
    tls: sections.tls ? { cert: at(sections.tls.cert), key: at(sections.tls.key) } : undefined,
    storage: {
      path: at(storage.path),
      maxSizeBytes: storage.maxSize === undefined ? undefined : parseSize(storage.maxSize),
      ...(storage.protectRecent !== undefined ? { protectRecentMs: parseDuration(storage.protectRecent) } : {}),
      linkRetentionMs: parseDuration(storage.linkRetention ?? '30d')!,
      ...(storage.offload ? { offload: { xAccelRedirect: storage.offload.xAccelRedirect } } : {}),
      ...(s3 ? { s3 } : {}),
    },
    pull: {
      maxLayers: sections.pull?.maxLayers ?? 1000,
      maxArtifactBytes: parseSize(sections.pull?.maxArtifactSize ?? '16MiB')!,
      prefetchBlobs: sections.pull?.prefetchBlobs ?? false,
    },
    server: {
      headersTimeoutMs: parseDuration(sections.server?.headersTimeout ?? '15s')!,
      requestTimeoutMs: parseDuration(sections.server?.requestTimeout ?? '30s')!,
      maxConnectionsPerClient: sections.server?.maxConnectionsPerClient ?? 128,
      workers: sections.server?.workers ?? availableParallelism(),
      trustedProxies: sections.server?.trustedProxies ?? [],
    },
    database: database!,
    upstreams: sections.upstreams!.map((u, i): UpstreamConfig => ({
      name: u.name,
      url: u.url.replace(/\/+$/, ''),
      username: u.username,
      password: upstreamSecrets[i],
      tagTtlMs: parseDuration(u.tagTtl)!,
      connectTimeoutMs: parseDuration(u.connectTimeout)!,
      idleTimeoutMs: parseDuration(u.idleTimeout)!,
      retries: u.retries,
      metadataDeadlineMs: parseDuration(u.metadataDeadline)!,
      blobMinBytesPerSecond: parseSize(u.blobMinRate)!,
      blobRateWindowMs: parseDuration(u.blobRateWindow)!,
      maxConnections: u.maxConnections,
      maxConnectionsPerRepository: u.maxConnectionsPerRepository,
      tagDrift: u.tagDrift,
    })),
    defaultUpstream: sections.defaultUpstream,
    policies: policyResult.rules ?? [],
    trust: {
      trustedRoot: trust.trustedRoot === 'public-good' ? trust.trustedRoot : at(trust.trustedRoot),
      roots: trustFiles.roots,
      keys: trustFiles.keys,
      verifyTtlMs: parseDuration(trust.verifyTtl)!,
      ...(trust.knownExploitedFile ? { knownExploitedFile: at(trust.knownExploitedFile) } : {}),
      ...(trust.referrers ? { referrers: { ...trust.referrers, maxBytes: parseSize(trust.referrers.maxBytes)!, maxReportBytes: parseSize(trust.referrers.maxReportBytes)! } } : {}),
      ...(trust.notation ? { notation: { trustStoreDir: at(trust.notation.trustStoreDir) } } : {}),
    } satisfies TrustConfig,
    auth: {
      pull: sections.auth?.pull ?? 'anonymous',
      tokens,
      ...(oidcConsole ? { oidc: { console: oidcConsole } } : {}),
      ...(oidcIssuers.length > 0 ? { oidcIssuers } : {}),
    } satisfies AuthConfig,
    audit: { retainDays: sections.audit?.retainDays, liveStreamsPerIdentity: sections.audit?.liveStreamsPerIdentity ?? 5, ...(checkpoint ? { checkpoint } : {}) },
    log: { level: sections.log?.level ?? 'info' },
    ...(sections.prefetch ? { prefetch: {
      intervalMs: parseDuration(sections.prefetch.interval)!,
      concurrency: sections.prefetch.concurrency,
      lists: sections.prefetch.lists,
    } } : {}),
    ...(notifications ? { notifications } : {}),
    ...(exportKey ? { export: { signingKey: exportKey } } : {}),
  });
}

/** The root names a keyless entry may give: the default and every trust.roots name. */
export function knownRoots(trust: TrustConfig): ReadonlySet<string> {
  return new Set([DEFAULT_ROOT, ...Object.keys(trust.roots ?? {})]);
}

type ErrorSink = (path: string, message: string) => void;

/** Schema issues as `path: message`, the path written as in the file (`upstreams[0].name`). */
function toErrors(issues: readonly z.core.$ZodIssue[], section: string): ConfigError[] {
  const out: ConfigError[] = [];
  for (const issue of issues) {
    const path = pathOf([section, ...issue.path]);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: `${path}.${key}`, message: unknownSettingMessage(configSchema, [section, ...issue.path], key, pathOf) });
    } else out.push({ path, message: issue.message });
  }
  return out;
}

function pathOf(parts: readonly PropertyKey[]): string {
  return parts.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function dedupe(errors: ConfigError[]): ConfigError[] {
  const seen = new Set<string>();
  return errors.filter((e) => !seen.has(`${e.path}\u0000${e.message}`) && seen.add(`${e.path}\u0000${e.message}`));
}

/** SQLite at `path` (the default), or PostgreSQL at `url` / the URL in the environment variable `urlEnv`. */
function checkDatabase(o: Sections['database'], at: (p: string) => string, env: NodeJS.ProcessEnv, error: ErrorSink): Config['database'] | undefined {
  const db = o ?? {};
  const given = (['path', 'url', 'urlEnv'] as const).filter((k) => db[k] !== undefined);
  if (given.length > 1) {
    error('database', `set only one of ${given.join(', ')}`);
    return undefined;
  }
  let url = db.url;
  if (db.urlEnv !== undefined) {
    url = env[db.urlEnv];
    if (!url) {
      error('database.urlEnv', `environment variable ${db.urlEnv} is not set`);
      return undefined;
    }
  }
  if (url === undefined) return { path: at(db.path ?? './data/portcullis.db') };
  if (!/^postgres(ql)?:\/\//.test(url)) error(db.urlEnv !== undefined ? 'database.urlEnv' : 'database.url', 'must be a postgres:// or postgresql:// URL');
  return { url };
}

/** Names unique; a `passwordEnv` needs a username and, when secrets are required, its variable set. */
function checkUpstreams(value: unknown, env: NodeJS.ProcessEnv, secretsRequired: boolean, error: ErrorSink): Array<string | undefined> {
  const seen = new Set<string>();
  return listOf(value).map((o, i) => {
    const p = `upstreams[${i}]`;
    if (typeof o.name === 'string') {
      if (seen.has(o.name)) error(`${p}.name`, `duplicates upstream "${o.name}"`);
      seen.add(o.name);
    }
    if (typeof o.passwordEnv !== 'string' || !o.passwordEnv) return undefined;
    if (typeof o.username !== 'string' || !o.username) error(`${p}.username`, 'is required with passwordEnv');
    const password = env[o.passwordEnv];
    if (password === undefined && secretsRequired) error(`${p}.passwordEnv`, `environment variable ${o.passwordEnv} is not set`);
    return password;
  });
}

/** trust.roots names and files, resolved; trust.keys read (a value is a PEM key or a path to one). */
function checkTrust(value: unknown, at: (p: string) => string, error: ErrorSink): { roots: Record<string, string>; keys: Record<string, string> } {
  const o = isObject(value) ? value : {};
  const roots: Record<string, string> = {};
  for (const [name, path] of Object.entries(isObject(o.roots) ? o.roots : {})) {
    if (typeof path !== 'string' || !path) continue; // the schema reports it
    const p = `trust.roots.${name}`;
    if (!ROOT_NAME_RE.test(name) || name === DEFAULT_ROOT) error(p, `must be named with letters, digits, ".", "_" or "-", and not "${DEFAULT_ROOT}" (the name of trust.trustedRoot)`);
    else if (path === 'public-good') error(p, 'must be a file: "public-good" is only for trust.trustedRoot');
    else roots[name] = at(path);
  }
  const keys: Record<string, string> = {};
  for (const [name, ref] of Object.entries(isObject(o.keys) ? o.keys : {})) {
    if (typeof ref !== 'string' || !ref) continue;
    if (ref.includes('-----BEGIN')) {
      keys[name] = ref;
      continue;
    }
    try {
      keys[name] = readFileSync(at(ref), 'utf8');
    } catch (err) {
      error(`trust.keys.${name}`, `cannot read ${at(ref)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { roots, keys };
}

/** API tokens: unique names, a hash or the variable holding the token (hashed here, the secret not kept). */
function checkTokens(value: unknown, env: NodeJS.ProcessEnv, secretsRequired: boolean, error: ErrorSink): TokenConfig[] {
  const auth = isObject(value) ? value : {};
  const listed = listOf(auth.tokens);
  const names = new Set<string>();
  const tokens: TokenConfig[] = [];
  listed.forEach((t, i) => {
    const p = `auth.tokens[${i}]`;
    const name = typeof t.name === 'string' && t.name ? t.name : undefined;
    if (name && names.has(name)) error(`${p}.name`, `duplicates token "${name}"`);
    if (name) names.add(name);
    let tokenSha256: string | undefined;
    if (typeof t.tokenSha256 === 'string') tokenSha256 = t.tokenSha256;
    else if (typeof t.tokenEnv === 'string') {
      const secret = env[t.tokenEnv];
      if (secret) tokenSha256 = createHash('sha256').update(secret).digest('hex');
      else if (secretsRequired) error(`${p}.tokenEnv`, `environment variable ${t.tokenEnv} is not set`);
    } else if (t.tokenEnv === undefined) error(p, 'needs tokenEnv or tokenSha256');
    if (name && typeof t.role === 'string' && tokenSha256) tokens.push({ name, role: t.role as TokenConfig['role'], tokenSha256 });
  });
  const issuers = isObject(auth.oidc) ? listOf(auth.oidc.issuers) : [];
  if (auth.pull === 'token' && listed.length === 0 && issuers.length === 0) error('auth.tokens', 'must list at least one token (or auth.oidc.issuers) when pull is "token"');
  return tokens;
}

/**
 * `audit.checkpoint`: the key is checked at load when secrets are required (a command that only reads the
 * log uses the public key it is given); `every` is a duration, a number of events, or both.
 */
function checkpointOf(
  o: NonNullable<NonNullable<Sections['audit']>['checkpoint']>,
  at: (p: string) => string,
  secretsRequired: boolean,
  error: ErrorSink,
): CheckpointConfig {
  const key = at(o.key);
  if (secretsRequired) {
    try {
      loadSigningKey(readFileSync(key));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      error('audit.checkpoint.key', e.code === 'ENOENT' ? `file not found (${key})` : e.code === 'EACCES' ? `cannot be read (${key})` : `${key}: ${e.message}`);
    }
  }
  const every = o.every;
  const time = typeof every === 'string' ? every : typeof every === 'object' ? every.time : undefined;
  const events = typeof every === 'number' ? every : typeof every === 'object' ? every.events : undefined;
  return {
    key,
    ...(o.file ? { file: at(o.file) } : {}),
    everyMs: time === undefined ? 60_000 : parseDuration(time)!,
    everyEvents: events ?? 10_000,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The objects of a list that may not be one (the schema reports what is wrong with it). */
function listOf(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** A prefetch list's repository must name a configured upstream (or fall under the default) and be a valid name. */
function prefetchRepositoryProblem(name: string, upstreams: ReadonlySet<unknown>, hasDefault: boolean): string | undefined {
  const slash = name.indexOf('/');
  const first = slash > 0 ? name.slice(0, slash) : '';
  const underUpstream = upstreams.has(first);
  if (!underUpstream && (first.includes('.') || first.includes(':') || first === 'localhost')) return `"${first}" names no configured upstream`;
  if (!underUpstream && !hasDefault) return 'must start with a configured upstream\'s name (there is no defaultUpstream)';
  return isRepositoryName(underUpstream ? name.slice(slash + 1) : name) ? undefined : 'is not a valid repository name';
}
