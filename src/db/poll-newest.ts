/** How often every backend re-checks the newest policy version (the fallback when no notification comes). */
export const POLICY_RECHECK_MS = 1000;

/**
 * Calls `onChange` when `newest()` moves, checking every POLICY_RECHECK_MS. A failed check (database
 * unreachable) is skipped: the next one tries again.
 */
export function pollNewest(newest: () => Promise<number | null>, onChange: () => void): { stop(): void; check(): Promise<void> } {
  let last: number | null | undefined;
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const now = await newest();
      if (now !== last) onChange();
      last = now;
    } catch {
      // unreachable for now; the next tick tries again
    } finally {
      busy = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), POLICY_RECHECK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer), check };
}
