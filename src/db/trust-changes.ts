import { seal, sealOne } from '../audit/audit-log.js';
import type { Actor } from './policy-versions.js';
import { describeRevoked, NO_REVOCATIONS, type Revocation, type RevocationSet, type RevokedSigner } from '../policy/revocation.js';
import { NO_EXCEPTIONS, type ExceptionSet, type PolicyException } from '../policy/exception.js';
import type { ExceptionRow, RevocationRow, TrustStore } from './types.js';

export interface RevocationView extends Revocation {
  liftedAt: string | null;
  liftedBy: string | null;
  active: boolean;
}

export interface ExceptionView extends PolicyException {
  /** `<repository>` or `<repository>@<digest>`, as it was asked for. */
  match: string;
  revokedAt: string | null;
  revokedBy: string | null;
  state: 'active' | 'expired' | 'revoked';
}

/** How often every process looks for exceptions that ran out, to record their expiry. */
const SWEEP_MS = 1000;

/**
 * Revocations and exceptions, held in memory so deciding a pull never waits for the database. A change made
 * here applies at once; one made by a sibling worker arrives by `invalidate()` (the cluster bus), one made
 * by another replica through `watch()` (within a second). Every change is committed with its audit event.
 * An exception stops applying at its `until` whether or not its expiry event has been written yet.
 */
export class TrustChanges {
  private revoked: RevocationSet = NO_REVOCATIONS;
  private excepted: ExceptionSet = NO_EXCEPTIONS;
  private generation: number | undefined;
  private watcher: { stop(): void } | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;

  constructor(private readonly store: TrustStore) {}

  revocations(): RevocationSet {
    return this.revoked;
  }

  exceptions(): ExceptionSet {
    return this.excepted;
  }

  /** Reads the active revocations and exceptions when the generation moved. */
  async load(force = false): Promise<void> {
    const generation = await this.store.generation();
    if (!force && generation === this.generation) return;
    const [revs, excs] = await Promise.all([this.store.revocations(), this.store.exceptions()]);
    this.generation = generation;
    this.revoked = Object.freeze({ list: Object.freeze(revs.filter((r) => !r.liftedAt).map((r) => toRevocation(r))) });
    this.excepted = Object.freeze({ list: Object.freeze(excs.filter((e) => !e.revokedAt && !e.expired).map((e) => toException(e))) });
  }

  invalidate(): Promise<void> {
    return this.load(true);
  }

  /** Follows changes by other processes, and records expiries, until `stop()`. */
  watch(sweep: boolean): void {
    this.watcher ??= this.store.watch(() => {
      this.loading ??= this.load()
        .catch(() => {})
        .finally(() => (this.loading = undefined));
    });
    if (sweep && !this.sweeper) {
      this.sweeper = setInterval(() => void this.expire().catch(() => {}), SWEEP_MS);
      this.sweeper.unref();
    }
  }

  stop(): void {
    this.watcher?.stop();
    this.watcher = undefined;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  async listRevocations(): Promise<RevocationView[]> {
    return (await this.store.revocations()).map(revocationView);
  }

  async revoke(signer: RevokedSigner, reason: string, actor: Actor, impact: (r: Revocation) => Record<string, unknown> = () => ({})): Promise<RevocationView> {
    const row = await this.store.addRevocation(
      { signer: JSON.stringify(signer), reason, author: actor.user, time: new Date().toISOString() },
      (stored) =>
        sealOne({
          kind: 'trust.revoke', requestId: actor.requestId ?? null, client: actor.client ?? null, user: actor.user,
          reasons: [`revoked ${describeRevoked(signer)}: ${reason}`],
          evidence: { revocation: stored.id, signer, reason, ...impact(toRevocation(stored)) },
        }),
    );
    await this.load(true);
    return revocationView(row);
  }

  async lift(id: number, actor: Actor): Promise<RevocationView | undefined> {
    const row = await this.store.liftRevocation(id, new Date().toISOString(), actor.user, (stored) =>
      sealOne({
        kind: 'trust.revocation.lift', requestId: actor.requestId ?? null, client: actor.client ?? null, user: actor.user,
        reasons: [`lifted revocation ${id} of ${describeRevoked(JSON.parse(stored.signer) as RevokedSigner)}`],
        evidence: { revocation: id, signer: JSON.parse(stored.signer) as unknown, reason: stored.reason },
      }),
    );
    await this.load(true);
    return row && revocationView(row);
  }

  async listExceptions(): Promise<ExceptionView[]> {
    const now = new Date().toISOString();
    return (await this.store.exceptions()).map((e) => exceptionView(e, now));
  }

  async except(e: { repository: string; digest: string | null; until: string; reason: string; coverDenyRule: boolean; vulnerability?: string | null }, actor: Actor): Promise<ExceptionView> {
    const row = await this.store.addException({ ...e, author: actor.user, time: new Date().toISOString() }, (stored) =>
      sealOne({
        kind: 'exception.create', requestId: actor.requestId ?? null, client: actor.client ?? null, user: actor.user,
        repository: stored.repository, digest: stored.digest,
        reasons: [`exception ${stored.id}${stored.vulnerability ? ` for ${stored.vulnerability}` : ''} until ${stored.until}: ${stored.reason}`],
        evidence: { exception: stored.id, until: stored.until, reason: stored.reason, coverDenyRule: stored.coverDenyRule },
      }),
    );
    await this.load(true);
    return exceptionView(row, new Date().toISOString());
  }

  async revokeException(id: number, actor: Actor): Promise<ExceptionView | undefined> {
    const row = await this.store.revokeException(id, new Date().toISOString(), actor.user, (stored) =>
      sealOne({
        kind: 'exception.revoke', requestId: actor.requestId ?? null, client: actor.client ?? null, user: actor.user,
        repository: stored.repository, digest: stored.digest,
        reasons: [`exception ${id} revoked before ${stored.until}`],
        evidence: { exception: id, until: stored.until, reason: stored.reason },
      }),
    );
    await this.load(true);
    return row && exceptionView(row, new Date().toISOString());
  }

  /** Records the expiry of every exception past its `until` (once, whichever process gets there first). */
  async expire(now = new Date()): Promise<ExceptionRow[]> {
    const at = now.toISOString();
    const expired = await this.store.expireExceptions(at, (rows) =>
      seal(
        rows.map((r) => ({
          time: at,
          input: {
            kind: 'exception.expire', user: 'system', repository: r.repository, digest: r.digest,
            reasons: [`exception ${r.id} expired at ${r.until}`],
            evidence: { exception: r.id, until: r.until, reason: r.reason },
          },
        })),
      ),
    );
    if (expired.length > 0) await this.load(true);
    return expired;
  }
}

function toRevocation(r: RevocationRow): Revocation {
  return Object.freeze({ id: r.id, signer: JSON.parse(r.signer) as RevokedSigner, reason: r.reason, author: r.author, time: r.time });
}

function toException(e: ExceptionRow): PolicyException {
  return Object.freeze({
    id: e.id, repository: e.repository, digest: e.digest, until: e.until, reason: e.reason, author: e.author, time: e.time,
    coverDenyRule: e.coverDenyRule, vulnerability: e.vulnerability ?? null,
  });
}

function revocationView(r: RevocationRow): RevocationView {
  return { ...toRevocation(r), liftedAt: r.liftedAt, liftedBy: r.liftedBy, active: r.liftedAt === null };
}

function exceptionView(e: ExceptionRow, now: string): ExceptionView {
  const state = e.revokedAt ? 'revoked' : e.expired || e.until <= now ? 'expired' : 'active';
  return {
    ...toException(e), match: e.digest ? `${e.repository}@${e.digest}` : e.repository,
    revokedAt: e.revokedAt, revokedBy: e.revokedBy, state,
  };
}
