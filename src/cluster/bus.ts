/**
 * What one process tells its siblings after changing shared state, so that every worker applies it before
 * the change is acknowledged to the admin: a policy PUT that returns has reached every worker.
 */
export type ClusterMessage =
  | { type: 'policy.changed' }
  | { type: 'cache.purged'; digests: string[] }
  | { type: 'trust.refreshed' }
  /** A revocation or exception was added or removed: reload them from the database. */
  | { type: 'trust.changed' };

/** What a process can be asked for by a sibling: its metrics (JSON), so a scrape sees every worker. */
export type GatherKind = 'metrics';

export interface ClusterBus {
  /** Applies the message in every process (this one included); resolves once all have applied it. */
  broadcast(message: ClusterMessage): Promise<void>;
  /** Registers what this process does with a message. */
  onMessage(handler: (message: ClusterMessage) => void | Promise<void>): void;
  /** Asks every process (this one included) for `kind`; resolves with the answers of those that gave one. */
  gather(kind: GatherKind): Promise<string[]>;
  /** Registers this process's answer to `kind`. */
  provide(kind: GatherKind, answer: () => Promise<string>): void;
}

/** A single process: the message is applied here, and that is everyone. */
export class LocalBus implements ClusterBus {
  private readonly handlers: Array<(m: ClusterMessage) => void | Promise<void>> = [];
  private readonly answers = new Map<GatherKind, () => Promise<string>>();

  onMessage(handler: (message: ClusterMessage) => void | Promise<void>): void {
    this.handlers.push(handler);
  }

  async broadcast(message: ClusterMessage): Promise<void> {
    for (const h of this.handlers) await h(message);
  }

  provide(kind: GatherKind, answer: () => Promise<string>): void {
    this.answers.set(kind, answer);
  }

  async gather(kind: GatherKind): Promise<string[]> {
    const answer = this.answers.get(kind);
    return answer ? [await answer()] : [];
  }
}

/** IPC envelopes between a worker and the supervisor. */
export type BusEnvelope =
  | { bus: 'broadcast'; id: number; message: ClusterMessage }
  | { bus: 'apply'; id: number; origin: number; message: ClusterMessage }
  | { bus: 'applied'; id: number; origin: number }
  | { bus: 'done'; id: number }
  | { bus: 'gather'; id: number; kind: GatherKind }
  | { bus: 'collect'; id: number; origin: number; kind: GatherKind }
  | { bus: 'collected'; id: number; origin: number; value: string | null }
  | { bus: 'gathered'; id: number; values: string[] };

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
  private readonly gathering = new Map<number, (values: string[]) => void>();
  private readonly answers = new Map<GatherKind, () => Promise<string>>();
  private nextId = 1;

  constructor(private readonly channel: NodeJS.Process = process) {
    channel.on('message', (raw: unknown) => {
      if (!isBusEnvelope(raw)) return;
      if (raw.bus === 'apply') {
        // Acknowledged once applied (a policy change is read from the database first).
        void this.apply(raw.message).finally(() => channel.send?.({ bus: 'applied', id: raw.id, origin: raw.origin } satisfies BusEnvelope));
      } else if (raw.bus === 'done') {
        this.pending.get(raw.id)?.();
      } else if (raw.bus === 'collect') {
        const answer = this.answers.get(raw.kind);
        const reply = (value: string | null) => channel.send?.({ bus: 'collected', id: raw.id, origin: raw.origin, value } satisfies BusEnvelope);
        // A process that cannot answer still replies, so the gather does not wait for it.
        if (!answer) reply(null);
        else answer().then(reply, () => reply(null));
      } else if (raw.bus === 'gathered') {
        this.gathering.get(raw.id)?.(raw.values);
      }
    });
  }

  provide(kind: GatherKind, answer: () => Promise<string>): void {
    this.answers.set(kind, answer);
  }

  gather(kind: GatherKind): Promise<string[]> {
    const id = this.nextId++;
    return new Promise<string[]>((resolve) => {
      const timer = setTimeout(() => {
        this.gathering.delete(id);
        const own = this.answers.get(kind);
        if (!own) resolve([]);
        else own().then((value) => resolve([value]), () => resolve([]));
      }, ACK_TIMEOUT_MS);
      this.gathering.set(id, (values) => {
        clearTimeout(timer);
        this.gathering.delete(id);
        resolve(values);
      });
      this.channel.send?.({ bus: 'gather', id, kind } satisfies BusEnvelope);
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
