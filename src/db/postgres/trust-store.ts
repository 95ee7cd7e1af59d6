import type pg from 'pg';
import type { ExceptionRow, NewException, NewRevocation, RevocationRow, Seal, TrustStore } from '../types.js';
import { pollNewest } from '../poll-newest.js';
import { appendInTx, lockChain } from './audit-store.js';
import { inTransaction } from './pool.js';
import { statement } from './statement.js';

interface RevRow { id: number; signer: string; reason: string; author: string; time: string; lifted_at: string | null; lifted_by: string | null }
interface ExcRow {
  id: number; repository: string; digest: string | null; until: string; reason: string; author: string; time: string;
  cover_deny_rule: number; revoked_at: string | null; revoked_by: string | null; expired: number;
}

const toRevocation = (r: RevRow): RevocationRow => ({
  id: r.id, signer: r.signer, reason: r.reason, author: r.author, time: r.time, liftedAt: r.lifted_at, liftedBy: r.lifted_by,
});
const toException = (r: ExcRow): ExceptionRow => ({
  id: r.id, repository: r.repository, digest: r.digest, until: r.until, reason: r.reason, author: r.author, time: r.time,
  coverDenyRule: r.cover_deny_rule === 1, revokedAt: r.revoked_at, revokedBy: r.revoked_by, expired: r.expired === 1,
});

const s = {
  generation: statement<{ n: number }>('trust_generation', 'SELECT n FROM trust_generation WHERE id = 1'),
  bump: statement('trust_bump', 'UPDATE trust_generation SET n = n + 1 WHERE id = 1'),
  revocations: statement<RevRow>('trust_revocations', 'SELECT * FROM revocations ORDER BY id DESC'),
  addRevocation: statement<RevRow>('trust_add_revocation',
    'INSERT INTO revocations (signer, reason, author, time) VALUES ($1, $2, $3, $4) RETURNING *'),
  lift: statement<RevRow>('trust_lift',
    'UPDATE revocations SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL RETURNING *'),
  exceptions: statement<ExcRow>('trust_exceptions', 'SELECT * FROM policy_exceptions ORDER BY id DESC'),
  addException: statement<ExcRow>('trust_add_exception', `INSERT INTO policy_exceptions
    (repository, digest, until, reason, author, time, cover_deny_rule) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`),
  revoke: statement<ExcRow>('trust_revoke', `UPDATE policy_exceptions SET revoked_at = $1, revoked_by = $2
    WHERE id = $3 AND revoked_at IS NULL AND expired = 0 RETURNING *`),
  due: statement<{ id: number }>('trust_due', 'SELECT id FROM policy_exceptions WHERE revoked_at IS NULL AND expired = 0 AND until <= $1 LIMIT 1'),
  expire: statement<ExcRow>('trust_expire', `UPDATE policy_exceptions SET expired = 1
    WHERE revoked_at IS NULL AND expired = 0 AND until <= $1 RETURNING *`),
};

/** Revocations and exceptions in PostgreSQL; each change and its audit event in one transaction under the chain lock. */
export class PostgresTrustStore implements TrustStore {
  constructor(private readonly pool: pg.Pool) {}

  async generation() {
    return (await s.generation(this.pool)).rows[0]!.n;
  }

  async revocations() {
    return (await s.revocations(this.pool)).rows.map(toRevocation);
  }

  addRevocation(row: NewRevocation, seal: (row: RevocationRow) => Seal) {
    return inTransaction(this.pool, async (client) => {
      await lockChain(client);
      const stored = toRevocation((await s.addRevocation(client, [row.signer, row.reason, row.author, row.time])).rows[0]!);
      await s.bump(client);
      await appendInTx(client, seal(stored));
      return stored;
    });
  }

  liftRevocation(id: number, at: string, by: string, seal: (row: RevocationRow) => Seal) {
    return inTransaction(this.pool, async (client) => {
      await lockChain(client);
      const row = (await s.lift(client, [at, by, id])).rows[0];
      if (!row) return undefined;
      const stored = toRevocation(row);
      await s.bump(client);
      await appendInTx(client, seal(stored));
      return stored;
    });
  }

  async exceptions() {
    return (await s.exceptions(this.pool)).rows.map(toException);
  }

  addException(row: NewException, seal: (row: ExceptionRow) => Seal) {
    return inTransaction(this.pool, async (client) => {
      await lockChain(client);
      const values = [row.repository, row.digest, row.until, row.reason, row.author, row.time, row.coverDenyRule ? 1 : 0];
      const stored = toException((await s.addException(client, values)).rows[0]!);
      await s.bump(client);
      await appendInTx(client, seal(stored));
      return stored;
    });
  }

  revokeException(id: number, at: string, by: string, seal: (row: ExceptionRow) => Seal) {
    return inTransaction(this.pool, async (client) => {
      await lockChain(client);
      const row = (await s.revoke(client, [at, by, id])).rows[0];
      if (!row) return undefined;
      const stored = toException(row);
      await s.bump(client);
      await appendInTx(client, seal(stored));
      return stored;
    });
  }

  async expireExceptions(now: string, seal: (rows: ExceptionRow[]) => Seal) {
    // A read first: most sweeps find nothing and take no lock.
    if ((await s.due(this.pool, [now])).rows.length === 0) return [];
    return inTransaction(this.pool, async (client) => {
      // The chain lock serialises sweepers: the second finds the rows already expired.
      await lockChain(client);
      const due = (await s.expire(client, [now])).rows.map(toException).sort((a, b) => a.id - b.id);
      if (due.length === 0) return [];
      await s.bump(client);
      await appendInTx(client, seal(due));
      return due;
    });
  }

  watch(onChange: () => void) {
    return pollNewest(() => this.generation(), onChange);
  }
}
