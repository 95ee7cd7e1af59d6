/**
 * At most `perKey` requests at a time per key (a repository): one repository whose upstream answers slowly
 * then holds only its share of the upstream's connection pool, and every other repository still gets one.
 */
export class ConnectionSlots {
  private readonly busy = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(readonly perKey: number) {}

  /** Resolves with the slot's release function; rejects with the signal's reason if it aborts first. */
  acquire(key: string, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if ((this.busy.get(key) ?? 0) < this.perKey) return Promise.resolve(this.take(key));
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(key) ?? [];
      this.waiting.set(key, queue);
      const onAbort = () => {
        const at = queue.indexOf(grant);
        if (at >= 0) queue.splice(at, 1);
        if (queue.length === 0 && this.waiting.get(key) === queue) this.waiting.delete(key);
        reject(signal.reason);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(this.take(key));
      };
      queue.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Requests running for `key` (for tests and metrics). */
  inUse(key: string): number {
    return this.busy.get(key) ?? 0;
  }

  private take(key: string): () => void {
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.waiting.get(key);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.waiting.delete(key);
      if (next) {
        // The slot passes straight to the next waiter.
        this.busy.set(key, this.busy.get(key)! - 1);
        next();
        return;
      }
      const left = this.busy.get(key)! - 1;
      if (left === 0) this.busy.delete(key);
      else this.busy.set(key, left);
    };
  }
}
