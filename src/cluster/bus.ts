/**
 * What one process tells its siblings after changing shared state, so that every worker applies it before
 * the change is acknowledged to the admin: a policy PUT that returns has reached every worker.
 */
export type ClusterMessage =
  | { type: 'policy.changed' }
  | { type: 'cache.purged'; digests: string[] }
  | { type: 'trust.refreshed' };

export interface ClusterBus {
  /** Applies the message in every process (this one included); resolves once all have applied it. */
  broadcast(message: ClusterMessage): Promise<void>;
  /** Registers what this process does with a message. */
  onMessage(handler: (message: ClusterMessage) => void | Promise<void>): void;
}

/** A single process: the message is applied here, and that is everyone. */
export class LocalBus implements ClusterBus {
  private readonly handlers: Array<(m: ClusterMessage) => void | Promise<void>> = [];

  onMessage(handler: (message: ClusterMessage) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  async broadcast(message: ClusterMessage): Promise<void> {
    for (const h of this.handlers) await h(message);
  }
}

/** IPC envelopes between a worker and the supervisor. */
export type BusEnvelope =
  | { bus: 'broadcast'; id: number; message: ClusterMessage }
  | { bus: 'apply'; id: number; origin: number; message: ClusterMessage }
  | { bus: 'applied'; id: number; origin: number }
  | { bus: 'done'; id: number };

export function isBusEnvelope(value: unknown): value is BusEnvelope {
  return typeof value === 'object' && value !== null && typeof (value as { bus?: unknown }).bus === 'string';
}

/** How long a worker waits for its siblings to acknowledge before it answers anyway (a sibling may be dying). */
const ACK_TIMEOUT_MS = 2_000;

/**
 * A worker of the supervisor: a broadcast goes to the supervisor, which hands it to every worker and answers
 * once each has applied it (or has gone).
 */
export class WorkerBus implements ClusterBus {
  private readonly handlers: Array<(m: ClusterMessage) => void | Promise<void>> = [];
  private readonly pending = new Map<number, () => void>();
  private nextId = 1;

  constructor(private readonly channel: NodeJS.Process = process) {
    channel.on('message', (raw: unknown) => {
      if (!isBusEnvelope(raw)) return;
      if (raw.bus === 'apply') {
        // Acknowledged once applied (a policy change is read from the database first).
        void this.apply(raw.message).finally(() => channel.send?.({ bus: 'applied', id: raw.id, origin: raw.origin } satisfies BusEnvelope));
      } else if (raw.bus === 'done') {
        this.pending.get(raw.id)?.();
      }
    });
  }

  onMessage(handler: (message: ClusterMessage) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  broadcast(message: ClusterMessage): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve();
      };
      const timer = setTimeout(() => {
        void this.apply(message); // at least this process has it
        finish();
      }, ACK_TIMEOUT_MS);
      this.pending.set(id, finish);
      this.channel.send?.({ bus: 'broadcast', id, message } satisfies BusEnvelope);
    });
  }

  private async apply(message: ClusterMessage): Promise<void> {
    for (const h of this.handlers) await h(message);
  }
}
