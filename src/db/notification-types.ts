import type { AuditRow } from './types.js';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One webhook's copy of one audit event, waiting, sent or given up on. */
export interface Delivery {
  id: number;
  webhook: string;
  eventId: number;
  kind: string;
  state: DeliveryState;
  attempts: number;
  /** Epoch ms of the next attempt (pending). */
  nextAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/** How an attempt ended, as the deliverer writes it back. */
export type Outcome =
  | { state: 'delivered'; status: number }
  | { state: 'pending'; status: number | null; error: string; nextAt: number }
  | { state: 'failed'; status: number | null; error: string };

/**
 * The notification outbox, shared by every process on the database. `scan` turns audit events after a
 * stored cursor into deliveries in one transaction, so nothing is skipped or doubled across restarts and
 * replicas; a delivery is `claim`ed before it is sent, so one process sends it.
 */
export interface NotificationStore {
  /**
   * Reads up to `limit` audit events after the cursor, writes a delivery for each webhook `route` names,
   * and moves the cursor past them. The first scan on a database starts after the newest event.
   */
  scan(route: (row: AuditRow) => readonly string[], limit: number, now: number): Promise<{ scanned: number; created: number }>;
  /** Marks the oldest pending deliveries of `webhook` beyond the newest `keep` as failed; returns how many. */
  trim(webhook: string, keep: number, error: string, now: number): Promise<number>;
  /** Ids of pending deliveries of `webhook` due at `now` and not claimed by a live claim, oldest first. */
  due(webhook: string, now: number, limit: number): Promise<number[]>;
  /** Claims a due delivery until `until`; true only for the one caller that got it. */
  claim(id: number, owner: string, now: number, until: number): Promise<boolean>;
  /** Gives a claim back untouched (the sender stopped before an answer): due again at once. */
  release(id: number, owner: string): Promise<void>;
  get(id: number): Promise<Delivery | undefined>;
  /** Writes the outcome of an attempt by the claim's owner, releasing the claim. */
  finish(id: number, owner: string, outcome: Outcome, now: number): Promise<void>;
  /** Newest first, in the given states. */
  list(states: readonly DeliveryState[], limit: number): Promise<Delivery[]>;
  /** Makes a failed or pending delivery due now with fresh attempts; undefined when no such delivery. */
  retry(id: number, now: number): Promise<Delivery | undefined>;
  /** How many deliveries are in each state. */
  counts(): Promise<Record<DeliveryState, number>>;
  /** Deletes up to `limit` delivered rows last updated before `before`. */
  forgetDelivered(before: number, limit: number): Promise<number>;
}

export type { AuditRow };
