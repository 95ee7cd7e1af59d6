import { sealOne } from '../audit/audit-log.js';
import type { ActivePolicy, PolicyRule, PolicySource } from '../policy/types.js';
import type { PolicyRow, PolicySourceKind, PolicyState, PolicyStore } from './types.js';

export type { PolicySourceKind } from './types.js';

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

/** What a change may carry: why it was made, and the version it expects to replace (If-Match). */
export interface ChangeOptions {
  comment?: string;
  /** The change is refused (PolicyVersionConflict) unless one of these versions is active when it is written. */
  ifVersion?: readonly number[];
}

/** What a change would store, computed without storing it (a dry run). */
export interface PolicyPreview {
  activeVersion: number | null;
  diff: PolicyDiff;
  summary: string;
}

export interface PolicyVersion {
  version: number;
  time: string;
  author: string;
  source: PolicySourceKind;
  rollbackOf: number | null;
  diff: PolicyDiff;
  summary: string;
  comment: string | null;
}

export interface PolicyVersionWithRules extends PolicyVersion {
  policies: PolicyRule[];
}

/**
 * The active policy, kept in the database as append-only versions; the newest version is active. It is held
 * in memory, so deciding a pull never waits for the database: `load()` reads it at start, a change made here
 * applies at once, and one made by any other process sharing the database arrives through `watch()` (within
 * a second). Every change is committed together with its audit event.
 */
export class PolicyVersions implements PolicySource {
  private active: ActivePolicy | undefined;
  private watcher: { stop(): void } | undefined;
  private loading: Promise<void> | undefined;

  constructor(private readonly store: PolicyStore) {}

  /** The active policy (as of the last load or notification). Throws before any version was stored. */
  current(): ActivePolicy {
    if (!this.active) throw new Error('no policy version is stored; the proxy has not been started with this database');
    return this.active;
  }

  /** Reads the newest version when it differs from the one held. */
  async load(): Promise<void> {
    const newest = await this.store.newest();
    if (newest === null || newest === this.active?.version) return;
    const row = await this.store.get(newest);
    if (row && (this.active === undefined || row.version > this.active.version)) this.hold(row);
  }

  /** Re-reads the newest version now (a sibling worker changed it); resolves once it is held. */
  invalidate(): Promise<void> {
    return this.load();
  }

  /** Follows changes made by other processes until `stop()`. */
  watch(): void {
    this.watcher ??= this.store.watch(() => {
      this.loading ??= this.load()
        .catch(() => {})
        .finally(() => (this.loading = undefined));
    });
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
  }

  /** Whether any version exists yet. */
  async hasVersions(): Promise<boolean> {
    return (await this.store.newest()) !== null;
  }

  /**
   * At start: the config file's rules become a new version when they differ from the last version that
   * came from the config file; otherwise the newest version (perhaps set through the API) stays active.
   */
  async syncFromConfig(rules: readonly PolicyRule[], configPath: string): Promise<{ version: number; created: boolean }> {
    const row = await this.store.append((state) => {
      if (state.lastFromConfig && canonicalJson(JSON.parse(state.lastFromConfig.rules)) === canonicalJson(rules)) return undefined;
      return this.plan(state, rules, 'config', { user: 'config' }, null, undefined, `policies loaded from ${configPath}`);
    });
    if (row) {
      this.hold(row);
      return { version: row.version, created: true };
    }
    await this.load();
    return { version: this.current().version, created: false };
  }

  /**
   * Replaces the rules (already validated) as a new active version. Throws PolicyVersionConflict when
   * `ifVersion` is given and another version is active.
   */
  async update(rules: readonly PolicyRule[], actor: Actor, opts: ChangeOptions = {}): Promise<number> {
    const row = await this.store.append((state) => this.plan(state, rules, 'api', actor, null, opts.comment), undefined, opts.ifVersion);
    this.hold(row!);
    return row!.version;
  }

  /** What `update(rules)` would store now, storing nothing. */
  async preview(rules: readonly PolicyRule[]): Promise<PolicyPreview> {
    const newest = await this.store.newest();
    const row = newest === null ? undefined : await this.store.get(newest);
    const diff = diffRules(row ? (JSON.parse(row.rules) as PolicyRule[]) : [], rules);
    return { activeVersion: newest, diff, summary: summarise(diff) };
  }

  /** Makes an old version's rules active again as a new version. Throws RangeError for an unknown version. */
  async rollback(version: number, actor: Actor, opts: ChangeOptions = {}): Promise<number> {
    const row = await this.store.append((state) => {
      if (!state.read) throw new RangeError(`policy version ${version} does not exist`);
      return this.plan(state, JSON.parse(state.read.rules) as PolicyRule[], 'api', actor, version, opts.comment);
    }, version, opts.ifVersion);
    this.hold(row!);
    return row!.version;
  }

  async get(version: number): Promise<PolicyVersionWithRules | undefined> {
    const row = Number.isSafeInteger(version) ? await this.store.get(version) : undefined;
    return row && { ...toVersion(row), policies: JSON.parse(row.rules) as PolicyRule[] };
  }

  async list(): Promise<PolicyVersion[]> {
    return (await this.store.list()).map(toVersion);
  }

  private hold(row: PolicyRow): void {
    if (this.active && this.active.version >= row.version) return;
    this.active = Object.freeze({ version: row.version, rules: deepFreeze(JSON.parse(row.rules) as PolicyRule[]) });
  }

  /** The next version and its audit event, planned from what the store read inside its transaction. */
  private plan(
    state: PolicyState,
    rules: readonly PolicyRule[],
    source: PolicySourceKind,
    actor: Actor,
    rollbackOf: number | null,
    comment: string | undefined,
    note?: string,
  ) {
    const newest = state.newest?.version ?? null;
    const previous = state.newest ? (JSON.parse(state.newest.rules) as PolicyRule[]) : [];
    const diff = diffRules(previous, rules);
    const version = (newest ?? 0) + 1;
    const row: PolicyRow = {
      version, time: new Date().toISOString(), author: actor.user, source,
      rules: JSON.stringify(rules), diff: JSON.stringify(diff), rollbackOf, comment: comment ?? null,
    };
    const seal = sealOne({
      kind: rollbackOf === null ? 'policy.update' : 'policy.rollback',
      requestId: actor.requestId ?? null,
      client: actor.client ?? null,
      user: actor.user,
      policyVersion: version,
      reasons: [
        ...(note ? [note] : []),
        ...(rollbackOf === null ? [] : [`rollback to the rules of version ${rollbackOf}`]),
        summarise(diff),
      ],
      evidence: { source, previousVersion: newest, ...diff, ...(comment === undefined ? {} : { comment }) },
    });
    return { row, seal };
  }
}

function toVersion(row: PolicyRow): PolicyVersion {
  const diff = JSON.parse(row.diff) as PolicyDiff;
  return {
    version: row.version,
    time: row.time,
    author: row.author,
    source: row.source,
    rollbackOf: row.rollbackOf,
    diff,
    summary: summarise(diff),
    comment: row.comment,
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
