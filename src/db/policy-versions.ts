import type { Db } from './database.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ActivePolicy, PolicySource } from '../pull/decider.js';
import type { PolicyRule } from '../policy/types.js';

export type PolicySourceKind = 'config' | 'api';

export interface PolicyDiff {
  added: string[];
  removed: string[];
  changed: string[];
  /** Rule order matters (first match wins), so a reorder is a change too. */
  reordered: boolean;
}

/** Who made a change: the token name, and the request it came with (for the audit event). */
export interface Actor {
  user: string;
  client?: string | null;
  requestId?: string | null;
}

export interface PolicyVersion {
  version: number;
  time: string;
  author: string;
  source: PolicySourceKind;
  rollbackOf: number | null;
  diff: PolicyDiff;
  summary: string;
}

export interface PolicyVersionWithRules extends PolicyVersion {
  policies: PolicyRule[];
}

interface Row {
  version: number;
  time: string;
  author: string;
  source: PolicySourceKind;
  rules: string;
  diff: string;
  rollback_of: number | null;
}

/**
 * The active policy, kept in SQLite as append-only versions; the newest version is active. `current()`
 * re-reads only when the newest version number moved, so a change made by any process sharing the
 * database applies to the next request. Every change is committed together with its audit event.
 */
const RECHECK_MS = 1000;

export class PolicyVersions implements PolicySource {
  private readonly s;
  private active: ActivePolicy | undefined;
  private checkedAt = 0;

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {
    this.s = {
      newest: db.prepare('SELECT max(version) AS v FROM policy_versions'),
      get: db.prepare('SELECT * FROM policy_versions WHERE version = ?'),
      lastFromConfig: db.prepare(`SELECT * FROM policy_versions WHERE source = 'config' ORDER BY version DESC LIMIT 1`),
      list: db.prepare('SELECT * FROM policy_versions ORDER BY version DESC'),
      insert: db.prepare(`INSERT INTO policy_versions (version, time, author, source, rules, diff, rollback_of)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
    };
  }

  /**
   * Changes made through this object apply at once (update and rollback drop the cached policy); a change
   * written by another process sharing the file is picked up within RECHECK_MS.
   */
  current(): ActivePolicy {
    const now = Date.now();
    if (this.active && now - this.checkedAt < RECHECK_MS) return this.active;
    this.checkedAt = now;
    const newest = (this.s.newest.get() as { v: number | null }).v;
    if (newest === null) throw new Error('no policy version is stored; the proxy has not been started with this database');
    if (this.active?.version !== newest) {
      const row = this.s.get.get(newest) as Row;
      this.active = Object.freeze({ version: newest, rules: deepFreeze(JSON.parse(row.rules) as PolicyRule[]) });
    }
    return this.active;
  }

  /** Forgets the cached active policy, so the next request reads the newest version (another process changed it). */
  invalidate(): void {
    this.checkedAt = 0;
  }

  /** Whether any version exists yet. */
  hasVersions(): boolean {
    return (this.s.newest.get() as { v: number | null }).v !== null;
  }

  /**
   * At start: the config file's rules become a new version when they differ from the last version that
   * came from the config file; otherwise the newest version (perhaps set through the API) stays active.
   */
  syncFromConfig(rules: readonly PolicyRule[], configPath: string): { version: number; created: boolean } {
    return this.db.transaction(() => {
      const last = this.s.lastFromConfig.get() as Row | undefined;
      if (last && canonicalJson(JSON.parse(last.rules)) === canonicalJson(rules)) {
        return { version: this.current().version, created: false };
      }
      const version = this.append(rules, 'config', { user: 'config' }, null, `policies loaded from ${configPath}`);
      return { version, created: true };
    }).immediate();
  }

  /** Replaces the rules (already validated) as a new active version. */
  update(rules: readonly PolicyRule[], actor: Actor): number {
    // Immediate: the version number is read and then written, and other processes share the file.
    return this.db.transaction(() => this.append(rules, 'api', actor, null)).immediate();
  }

  /** Makes an old version's rules active again as a new version. Throws RangeError for an unknown version. */
  rollback(version: number, actor: Actor): number {
    return this.db.transaction(() => {
      const old = this.s.get.get(version) as Row | undefined;
      if (!old) throw new RangeError(`policy version ${version} does not exist`);
      return this.append(JSON.parse(old.rules) as PolicyRule[], 'api', actor, version);
    }).immediate();
  }

  get(version: number): PolicyVersionWithRules | undefined {
    const row = this.s.get.get(version) as Row | undefined;
    return row && { ...toVersion(row), policies: JSON.parse(row.rules) as PolicyRule[] };
  }

  list(): PolicyVersion[] {
    return (this.s.list.all() as Row[]).map(toVersion);
  }

  private append(
    rules: readonly PolicyRule[],
    source: PolicySourceKind,
    actor: Actor,
    rollbackOf: number | null,
    note?: string,
  ): number {
    this.checkedAt = 0;
    const newest = (this.s.newest.get() as { v: number | null }).v;
    const previous = newest === null ? [] : (JSON.parse((this.s.get.get(newest) as Row).rules) as PolicyRule[]);
    const diff = diffRules(previous, rules);
    const version = (newest ?? 0) + 1;
    this.s.insert.run(version, new Date().toISOString(), actor.user, source, JSON.stringify(rules), JSON.stringify(diff), rollbackOf);
    const summary = summarise(diff);
    this.audit.append({
      kind: rollbackOf === null ? 'policy.update' : 'policy.rollback',
      requestId: actor.requestId ?? null,
      client: actor.client ?? null,
      user: actor.user,
      policyVersion: version,
      reasons: [
        ...(note ? [note] : []),
        ...(rollbackOf === null ? [] : [`rollback to the rules of version ${rollbackOf}`]),
        summary,
      ],
      evidence: { source, previousVersion: newest, ...diff },
    });
    return version;
  }
}

function toVersion(row: Row): PolicyVersion {
  const diff = JSON.parse(row.diff) as PolicyDiff;
  return {
    version: row.version,
    time: row.time,
    author: row.author,
    source: row.source,
    rollbackOf: row.rollback_of,
    diff,
    summary: summarise(diff),
  };
}

export function diffRules(before: readonly PolicyRule[], after: readonly PolicyRule[]): PolicyDiff {
  const old = new Map(before.map((r) => [r.name, canonicalJson(r)]));
  const now = new Map(after.map((r) => [r.name, canonicalJson(r)]));
  const kept = (names: string[]) => names.filter((n) => old.has(n) && now.has(n));
  return {
    added: [...now.keys()].filter((n) => !old.has(n)),
    removed: [...old.keys()].filter((n) => !now.has(n)),
    changed: [...now.keys()].filter((n) => old.has(n) && old.get(n) !== now.get(n)),
    reordered: kept([...old.keys()]).join('\n') !== kept([...now.keys()]).join('\n'),
  };
}

export function summarise(d: PolicyDiff): string {
  const parts: string[] = [];
  if (d.added.length) parts.push(`added ${d.added.join(', ')}`);
  if (d.removed.length) parts.push(`removed ${d.removed.join(', ')}`);
  if (d.changed.length) parts.push(`changed ${d.changed.join(', ')}`);
  if (d.reordered) parts.push('reordered rules');
  return parts.length ? parts.join('; ') : 'no rule changes';
}

/** JSON with object keys sorted, so equal rules compare equal whatever order the file wrote them in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
