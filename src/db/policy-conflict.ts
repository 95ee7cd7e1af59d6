/**
 * A conditional policy change (If-Match, `--if-version`) found another version active: thrown inside the
 * store's append transaction, so the check and the write are one step for every process and replica.
 */
export class PolicyVersionConflict extends Error {
  constructor(
    readonly active: number | null,
    readonly expected: readonly number[],
  ) {
    super(`the active policy version is now ${active ?? 'none'}, not ${expected.join(' or ') || 'the one asked for'}`);
  }
}
