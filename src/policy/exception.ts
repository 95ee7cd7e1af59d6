import type { Decision } from './types.js';

/**
 * A time-boxed exception, as plain data: while `until` is ahead, pulls of `repository` (or of one `digest`
 * in it) are served even when their rule denies, with the failed checks still listed. It covers a `deny`
 * rule (or a name no rule matches) only when `coverDenyRule` says so.
 */
export interface PolicyException {
  id: number;
  repository: string;
  digest: string | null;
  until: string;
  reason: string;
  author: string;
  time: string;
  coverDenyRule: boolean;
  /** Set for a per-vulnerability exception: it suppresses that finding (and its aliases) only, never the decision. */
  vulnerability?: string | null;
}

export interface ExceptionSet {
  readonly list: readonly PolicyException[];
}

export const NO_EXCEPTIONS: ExceptionSet = Object.freeze({ list: Object.freeze([]) });

/** The active exception covering a denied pull of one of `digests` in `repository`, if any. */
export function exceptionFor(
  set: ExceptionSet,
  decision: Pick<Decision, 'outcome' | 'mode' | 'rule'>,
  repository: string,
  digests: readonly string[],
  now: Date,
): PolicyException | undefined {
  if (decision.outcome !== 'deny') return undefined;
  const ruleDenies = decision.rule === null || decision.mode === 'deny';
  const at = now.toISOString();
  return set.list.find(
    (e) =>
      !e.vulnerability &&
      e.repository === repository &&
      (e.digest === null || digests.includes(e.digest)) &&
      e.until > at &&
      (!ruleDenies || e.coverDenyRule),
  );
}

/** Whether an active exception may let a name through that a `deny` rule or no rule refuses (before any fetch). */
export function nameExcepted(set: ExceptionSet, repository: string, now: Date): boolean {
  const at = now.toISOString();
  return set.list.some((e) => !e.vulnerability && e.repository === repository && e.coverDenyRule && e.until > at);
}

/** The decision served under an exception: allowed, with the rule's reasons kept and the exception recorded. */
export function underException<D extends Decision>(decision: D, e: PolicyException): D {
  return {
    ...decision,
    outcome: 'allow',
    evidence: { ...(decision.evidence ?? {}), exception: { id: e.id, reason: e.reason, until: e.until, author: e.author } },
  };
}
