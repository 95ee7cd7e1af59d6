import type { Db } from './connection.js';
import type { SqliteAuditStore } from './audit-store.js';
import type { ExceptionRow, NewException, NewRevocation, RevocationRow, Seal, TrustStore } from '../types.js';
import { pollNewest } from '../poll-newest.js';

interface RevRow { id: number; signer: string; reason: string; author: string; time: string; lifted_at: string | null; lifted_by: string | null }
interface ExcRow {
  id: number; repository: string; digest: string | null; until: string; reason: string; author: string; time: string;
  cover_deny_rule: number; revoked_at: string | null; revoked_by: string | null; expired: number;
}

export const toRevocation = (r: RevRow): RevocationRow => ({
  id: r.id, signer: r.signer, reason: r.reason, author: r.author, time: r.time, liftedAt: r.lifted_at, liftedBy: r.lifted_by,
});
export const toException = (r: ExcRow): ExceptionRow => ({
  id: r.id, repository: r.repository, digest: r.digest, until: r.until, reason: r.reason, author: r.author, time: r.time,
  coverDenyRule: r.cover_deny_rule === 1, revokedAt: r.revoked_at, revokedBy: r.revoked_by, expired: r.expired === 1,
});

/** Revocations and exceptions in SQLite; each change and its audit event in one IMMEDIATE transaction. */
export class SqliteTrustStore implements TrustStore {
  private readonly s;

  constructor(
    private readonly db: Db,
    private readonly audit: SqliteAuditStore,
  ) {
    this.s = {
      generation: db.prepare('SELECT n FROM trust_generation WHERE id = 1').pluck(),
      bump: db.prepare('UPDATE trust_generation SET n = n + 1 WHERE id = 1'),
      revocations: db.prepare('SELECT * FROM revocations ORDER BY id DESC'),
      revocation: db.prepare('SELECT * FROM revocations WHERE id = ?'),
      addRevocation: db.prepare('INSERT INTO revocations (signer, reason, author, time) VALUES (?, ?, ?, ?)'),
      lift: db.prepare('UPDATE revocations SET lifted_at = ?, lifted_by = ? WHERE id = ? AND lifted_at IS NULL'),
      exceptions: db.prepare('SELECT * FROM policy_exceptions ORDER BY id DESC'),
      exception: db.prepare('SELECT * FROM policy_exceptions WHERE id = ?'),
      addException: db.prepare(`INSERT INTO policy_exceptions (repository, digest, until, reason, author, time, cover_deny_rule)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      revoke: db.prepare('UPDATE policy_exceptions SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL AND expired = 0'),
      due: db.prepare('SELECT * FROM policy_exceptions WHERE revoked_at IS NULL AND expired = 0 AND until <= ? ORDER BY id'),
      expire: db.prepare('UPDATE policy_exceptions SET expired = 1 WHERE id = ?'),
    };
  }

  async generation() {
    return this.s.generation.get() as number;
  }

  async revocations() {
    return (this.s.revocations.all() as RevRow[]).map(toRevocation);
  }

  async addRevocation(row: NewRevocation, seal: (row: RevocationRow) => Seal) {
    return this.db.transaction(() => {
      const id = Number(this.s.addRevocation.run(row.signer, row.reason, row.author, row.time).lastInsertRowid);
      const stored = toRevocation(this.s.revocation.get(id) as RevRow);
      this.s.bump.run();
      this.audit.appendInTx(seal(stored));
      return stored;
    }).immediate();
  }

  async liftRevocation(id: number, at: string, by: string, seal: (row: RevocationRow) => Seal) {
    return this.db.transaction(() => {
      if (this.s.lift.run(at, by, id).changes === 0) return undefined;
      const stored = toRevocation(this.s.revocation.get(id) as RevRow);
      this.s.bump.run();
      this.audit.appendInTx(seal(stored));
      return stored;
    }).immediate();
  }

  async exceptions() {
    return (this.s.exceptions.all() as ExcRow[]).map(toException);
  }

  async addException(row: NewException, seal: (row: ExceptionRow) => Seal) {
    return this.db.transaction(() => {
      const info = this.s.addException.run(row.repository, row.digest, row.until, row.reason, row.author, row.time, row.coverDenyRule ? 1 : 0);
      const stored = toException(this.s.exception.get(Number(info.lastInsertRowid)) as ExcRow);
      this.s.bump.run();
      this.audit.appendInTx(seal(stored));
      return stored;
    }).immediate();
  }

  async revokeException(id: number, at: string, by: string, seal: (row: ExceptionRow) => Seal) {
    return this.db.transaction(() => {
      if (this.s.revoke.run(at, by, id).changes === 0) return undefined;
      const stored = toException(this.s.exception.get(id) as ExcRow);
      this.s.bump.run();
      this.audit.appendInTx(seal(stored));
      return stored;
    }).immediate();
  }

  async expireExceptions(now: string, seal: (rows: ExceptionRow[]) => Seal) {
    // A read first: most sweeps find nothing and take no write lock.
    if ((this.s.due.all(now) as ExcRow[]).length === 0) return [];
    return this.db.transaction(() => {
      const due = (this.s.due.all(now) as ExcRow[]).map(toException);
      if (due.length === 0) return [];
      for (const e of due) this.s.expire.run(e.id);
      this.s.bump.run();
      this.audit.appendInTx(seal(due));
      return due.map((e) => ({ ...e, expired: true }));
    }).immediate();
  }

  watch(onChange: () => void) {
    return pollNewest(() => this.generation(), onChange);
  }
}
