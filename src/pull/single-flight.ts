interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  /** Callers with a signal that still wait. */
  waiting: number;
  /** A caller without a signal waits: the work runs to the end. */
  pinned: boolean;
}

/**
 * Concurrent calls with the same key share one in-flight promise. The shared work gets a signal that aborts
 * once every caller has gone (each gave a signal, and each has aborted): what no client waits for is not
 * left holding an upstream connection. A caller whose own signal aborts is rejected at once.
 */
export class SingleFlight<T> {
  private readonly inflight = new Map<string, Flight<T>>();

  run(key: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let flight = this.inflight.get(key);
    if (!flight) {
      const controller = new AbortController();
      const started: Flight<T> = { promise: fn(controller.signal), controller, waiting: 0, pinned: false };
      // Settled with nobody left waiting is not an unhandled rejection.
      started.promise.catch(() => {});
      void started.promise.finally(() => this.drop(key, started)).catch(() => {});
      this.inflight.set(key, started);
      flight = started;
    }
    return this.join(key, flight, signal);
  }

  get size(): number {
    return this.inflight.size;
  }

  private join(key: string, flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    if (!signal) {
      flight.pinned = true;
      return flight.promise;
    }
    flight.waiting++;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        flight.waiting--;
        if (flight.waiting === 0 && !flight.pinned) {
          // A later caller starts afresh rather than joining work that is being abandoned.
          this.drop(key, flight);
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  private drop(key: string, flight: Flight<T>): void {
    if (this.inflight.get(key) === flight) this.inflight.delete(key);
  }
}
