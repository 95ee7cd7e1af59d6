import { Router, type Request, type Response } from 'express';
import type { Identity } from '../auth/token-registry.js';
import type { Delivery, DeliveryState } from '../db/types.js';
import { sealOne } from '../audit/audit-log.js';
import type { AuditEventInput } from '../audit/types.js';
import { clientAddress } from '../auth/authenticator.js';
import { sendApiError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { onlyKnown } from './known-input.js';
import type { ApiDeps } from './api-deps.js';

const STATES: readonly DeliveryState[] = ['pending', 'failed', 'delivered'];
const MAX_LIMIT = 1000;

/**
 * /notifications: webhook deliveries waiting or given up on (admin, auditor), and a retry of one (admin),
 * which makes it due at once with a fresh count of attempts. A retry sends the event's data again, so it
 * is audited (`notification.retry`, naming who asked) in the transaction that makes it due.
 */
export function notificationRoutes(d: Pick<ApiDeps, 'auth' | 'db' | 'log'>): Router {
  const r = Router();

  r.get('/notifications', requireRole(d.auth, 'auditor'), onlyKnown({ query: ['state', 'limit'] }), async (req, res) => {
    const stateText = typeof req.query.state === 'string' ? req.query.state : 'pending,failed';
    const states = stateText.split(',').filter(Boolean);
    const bad = states.filter((s) => !STATES.includes(s as DeliveryState));
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (bad.length > 0 || states.length === 0) {
      sendApiError(res, 400, 'BAD_REQUEST', `state must be one or more of ${STATES.join(', ')} separated by commas`, [{ path: 'state', message: `unknown state ${bad.map((s) => `"${s.slice(0, 32)}"`).join(', ')}` }]);
      return;
    }
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      sendApiError(res, 400, 'BAD_REQUEST', `limit must be a whole number from 1 to ${MAX_LIMIT}`, [{ path: 'limit', message: `must be a whole number from 1 to ${MAX_LIMIT}` }]);
      return;
    }
    const [deliveries, counts] = await Promise.all([d.db.notifications.list(states as DeliveryState[], limit), d.db.notifications.counts()]);
    res.json({ counts, deliveries: deliveries.map(view) });
  });

  r.post('/notifications/:id/retry', requireRole(d.auth), onlyKnown({}), async (req, res) => {
    const id = Number(req.params.id);
    const identity = res.locals.identity as Identity;
    const audit = (before: Delivery) => sealOne(retryEvent(identity.name, before, req, res));
    const retried = Number.isSafeInteger(id) && id > 0 ? await d.db.notifications.retry(id, Date.now(), audit) : undefined;
    if (!retried) {
      const known = Number.isSafeInteger(id) && id > 0 ? await d.db.notifications.get(id) : undefined;
      if (known) sendApiError(res, 409, 'CONFLICT', `delivery ${id} was already delivered`);
      else sendApiError(res, 404, 'NOT_FOUND', `no delivery ${String(req.params.id).slice(0, 64)}`);
      return;
    }
    d.log.info('notification delivery retried', { delivery: id, webhook: retried.webhook, event: retried.eventId, by: identity.name });
    res.json(view(retried));
  });
  return r;
}

/** A delivery as the API shows it: times as ISO 8601. */
function view(x: Awaited<ReturnType<ApiDeps['db']['notifications']['list']>>[number]) {
  return {
    id: x.id, webhook: x.webhook, eventId: x.eventId, kind: x.kind, state: x.state, attempts: x.attempts,
    nextAttemptAt: x.state === 'pending' ? new Date(x.nextAt).toISOString() : null,
    lastStatus: x.lastStatus, lastError: x.lastError,
    createdAt: new Date(x.createdAt).toISOString(), updatedAt: new Date(x.updatedAt).toISOString(),
  };
}

/** The audit event of an admin's retry of a delivery, as it was before the retry. */
function retryEvent(user: string, before: Delivery, req: Request, res: Response): AuditEventInput {
  const was = before.state === 'failed' ? `it had failed after ${before.attempts} attempts` : `it was waiting after ${before.attempts} attempts`;
  return {
    kind: 'notification.retry',
    requestId: (res.locals.requestId as string | undefined) ?? null,
    client: clientAddress(req),
    user,
    reference: `delivery ${before.id}`,
    reasons: [`${user} retried delivery ${before.id} of audit event ${before.eventId} to webhook ${before.webhook} (${was})`],
    evidence: { delivery: before.id, webhook: before.webhook, eventId: before.eventId, eventKind: before.kind, previousState: before.state, previousAttempts: before.attempts },
  };
}
