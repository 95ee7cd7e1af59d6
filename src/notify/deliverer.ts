import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Agent } from 'undici';
import { rowToEvent } from '../audit/chain.js';
import type { NotificationsConfig, WebhookConfig } from '../config/types.js';
import type { Delivery, NotificationStore, Outcome } from '../db/types.js';
import type { AuditStore } from '../db/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { packageVersion } from '../version.js';
import { CLOUDEVENTS_JSON, SIGNATURE_HEADER, cloudEvent, sign } from './cloud-event.js';
import { router } from './routing.js';
import { post } from './send.js';

/** How often the outbox is looked at; a finished delivery looks again at once. */
const POLL_MS = 1000;
/** Audit events turned into deliveries per look. */
const SCAN_BATCH = 500;
/** Deliveries in flight per webhook in this process: a receiver that hangs holds these, never a pull. */
const PER_WEBHOOK = 4;
const MAX_BACKOFF_MS = 3_600_000;
/** Delivered rows are kept this long (for the API), then removed. */
const KEEP_DELIVERED_MS = 86_400_000;
const FORGET_EVERY_MS = 60_000;

export interface DelivererServices {
  store: NotificationStore;
  audit: AuditStore;
  log: Logger;
  metrics: Metrics;
}

/**
 * Sends audit events to webhooks from the outbox in the database, at least once: the scan and the cursor move
 * in one transaction, an attempt's outcome is written after the answer, and a claim that is never finished
 * (a crash) expires and the delivery is sent again. Every process sharing the database may run one; claims
 * make each delivery go out from one of them. It runs beside the pull path and never waits on it or blocks it.
 */
export class Deliverer {
  private readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly route;
  private readonly agent: Agent;
  private readonly inFlight = new Map<string, Set<Promise<void>>>();
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private again = false;
  private forgotAt = 0;

  constructor(
    private readonly config: NotificationsConfig,
    private readonly s: DelivererServices,
  ) {
    this.route = router(config.webhooks);
    this.agent = new Agent({ connect: { timeout: config.timeoutMs }, keepAliveTimeout: 10_000, connections: PER_WEBHOOK * 2 });
    for (const w of config.webhooks) this.inFlight.set(w.name, new Set());
  }

  /**
   * Starts looking, once the outbox's cursor exists: on a database's first start it is placed after the newest
   * event before anything is served, so every later event is sent.
   */
  async start(): Promise<this> {
    await this.s.store.scan(this.route, SCAN_BATCH, Date.now());
    this.timer = setInterval(() => this.look(), POLL_MS);
    this.timer.unref();
    this.s.metrics.sharedGauge('portcullis_notifications_waiting', 'Webhook deliveries pending in the outbox', 'max', async () => (await this.s.store.counts()).pending);
    this.s.metrics.sharedGauge('portcullis_notifications_failed', 'Webhook deliveries given up on (listed by GET /api/v1/notifications)', 'max', async () => (await this.s.store.counts()).failed);
    this.s.log.info('sending notifications', { webhooks: this.config.webhooks.map((w) => w.name) });
    this.look();
    return this;
  }

  /** Stops looking; deliveries in flight are abandoned and their claims given back, so nothing is lost. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopping.abort();
    await this.looking;
    await Promise.all([...this.inFlight.values()].flatMap((set) => [...set]));
    await this.agent.close().catch(() => {});
  }

  /** One look at the outbox, unless one is running (then another follows it). */
  look(): void {
    if (this.stopping.signal.aborted) return;
    if (this.looking) {
      this.again = true;
      return;
    }
    this.looking = this.lookOnce()
      .catch((err: unknown) => this.s.log.warn('notification outbox could not be read', { error: String((err as Error)?.message ?? err) }))
      .finally(() => {
        this.looking = undefined;
        if (this.again) {
          this.again = false;
          setImmediate(() => this.look());
        }
      });
  }

  private async lookOnce(): Promise<void> {
    const now = Date.now();
    let created = 0;
    for (let i = 0; i < 10; i++) {
      const scan = await this.s.store.scan(this.route, SCAN_BATCH, now);
      created += scan.created;
      if (scan.scanned < SCAN_BATCH) break;
    }
    if (created > 0) await this.trim(now);
    if (now - this.forgotAt >= FORGET_EVERY_MS) {
      this.forgotAt = now;
      await this.s.store.forgetDelivered(now - KEEP_DELIVERED_MS, 1000);
    }
    for (const w of this.config.webhooks) await this.claimFor(w);
  }

  /** Fails the oldest deliveries beyond `maxPending` of each webhook, loudly. */
  private async trim(now: number): Promise<void> {
    for (const w of this.config.webhooks) {
      const dropped = await this.s.store.trim(w.name, this.config.maxPending, `dropped: more than ${this.config.maxPending} deliveries were waiting`, now);
      if (dropped > 0) {
        this.s.metrics.notifications.inc({ webhook: w.name, outcome: 'dropped' }, dropped);
        this.s.log.error('notification deliveries dropped: too many waiting', { webhook: w.name, dropped, maxPending: this.config.maxPending });
      }
    }
  }

  private async claimFor(w: WebhookConfig): Promise<void> {
    const running = this.inFlight.get(w.name)!;
    const free = PER_WEBHOOK - running.size;
    if (free <= 0) return;
    const now = Date.now();
    for (const id of await this.s.store.due(w.name, now, free)) {
      if (this.stopping.signal.aborted) return;
      // A claim outlives any attempt (timeout plus a margin), so it never lapses while this process still sends.
      if (!(await this.s.store.claim(id, this.owner, now, now + this.config.timeoutMs + 30_000))) continue;
      const sending: Promise<void> = this.deliver(w, id)
        .catch((err: unknown) => this.s.log.warn('notification delivery could not be recorded', { webhook: w.name, delivery: id, error: String((err as Error)?.message ?? err) }))
        .finally(() => {
          running.delete(sending);
          this.look();
        });
      running.add(sending);
    }
  }

  private async deliver(w: WebhookConfig, id: number): Promise<void> {
    const d = await this.s.store.get(id);
    if (!d) return;
    const [row] = await this.s.audit.rows({}, d.eventId - 1, d.eventId, 1);
    if (!row) {
      await this.finish(w, d, { state: 'failed', status: null, error: 'the audit event is no longer in the log (removed by retention)' });
      return;
    }
    const body = JSON.stringify(cloudEvent(rowToEvent(row)));
    const headers = {
      ...w.headers,
      'content-type': CLOUDEVENTS_JSON,
      'user-agent': `portcullis/${packageVersion()}`,
      [SIGNATURE_HEADER]: sign(w.secret, body, Math.floor(Date.now() / 1000)),
    };
    const started = performance.now();
    const result = await post(this.agent, w.url, body, headers, this.config.timeoutMs, this.stopping.signal);
    this.s.metrics.notificationSeconds.observe({ webhook: w.name }, (performance.now() - started) / 1000);
    if (result === 'stopped') {
      await this.s.store.release(id, this.owner);
      return;
    }
    if (result.ok) {
      await this.finish(w, d, { state: 'delivered', status: result.status });
      return;
    }
    const attempts = d.attempts + 1;
    if (attempts >= this.config.maxAttempts) {
      await this.finish(w, d, { state: 'failed', status: result.status, error: `${result.error} (gave up after ${attempts} attempts)` });
      return;
    }
    const wait = Math.min(MAX_BACKOFF_MS, this.config.retryBackoffMs * 2 ** (attempts - 1));
    await this.finish(w, d, { state: 'pending', status: result.status, error: result.error, nextAt: Date.now() + Math.round(wait * (0.9 + Math.random() * 0.2)) });
  }

  private async finish(w: WebhookConfig, d: Delivery, outcome: Outcome): Promise<void> {
    await this.s.store.finish(d.id, this.owner, outcome, Date.now());
    const outcomeLabel = outcome.state === 'delivered' ? 'delivered' : outcome.state === 'pending' ? 'retry' : 'failed';
    this.s.metrics.notifications.inc({ webhook: w.name, outcome: outcomeLabel });
    const fields = { webhook: w.name, delivery: d.id, event: d.eventId, kind: d.kind, attempts: d.attempts + 1, status: outcome.status };
    if (outcome.state === 'delivered') this.s.log.debug('notification delivered', fields);
    else if (outcome.state === 'pending') this.s.log.warn('notification delivery failed; will retry', { ...fields, error: outcome.error, retryAt: new Date(outcome.nextAt).toISOString() });
    else this.s.log.error('notification delivery failed; given up', { ...fields, error: outcome.error });
  }
}
