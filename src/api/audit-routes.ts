import { Router } from 'express';
import type { ChainOutcome } from '../audit/chain-alarm.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { Database } from '../db/types.js';
import { AUDIT_FORMATS, CONTENT_TYPES, writeAuditEvents, type AuditFormat } from '../audit/audit-export.js';
import { AUDIT_ORDERS, AuditQuery, encodeCursor, FILTER_KEYS, parseAuditFilter, readCursor, unknownParameters, type AuditCursor, type AuditOrder } from '../audit/audit-query.js';
import { verifyChain, type ChainReport } from '../audit/verify-chain.js';
import { readCheckpointFile, verifyWithCheckpoints, type CheckpointedReport } from '../audit/checkpoint-report.js';
import type { KeyObject } from 'node:crypto';
import { sendApiError, type FieldError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { onlyKnown } from './known-input.js';
import type { Logger } from '../logger.js';
import { rowToEvent } from '../audit/chain.js';
import { summarize } from '../audit/audit-summary.js';
import { parseSummaryParams } from '../audit/summary-params.js';
import { liveAuditEvents, type LiveStreams } from './audit-live.js';

const DEFAULT_LIMIT = 100;
const EVENT_PARAMS: readonly string[] = [...FILTER_KEYS, 'format', 'order', 'cursor', 'limit'];
const MAX_LIMIT = 1000;

/**
 * /audit/events (a page, one event by id, or the live stream), /audit/summary and /audit/verify (admin,
 * auditor). JSON pages hold at most 1000 events; NDJSON and CSV without `limit` export every matching event
 * up to the newest one at the start, streamed in batches. `order=desc` lists newest first.
 */
export function auditRoutes(d: {
  db: Database;
  auth: Authenticator;
  log: Logger;
  live: LiveStreams;
  checkpoints?: { key: KeyObject; file?: string };
  /** Told whether the chain held each time it is verified (for metrics). */
  onChainVerified?: (outcome: ChainOutcome) => void;
}): Router {
  const r = Router();
  const readers = requireRole(d.auth, 'auditor');
  const query = new AuditQuery(d.db.audit);

  r.get('/audit/events', readers, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const { filter, errors } = parseAuditFilter(q);
    const fieldErrors: FieldError[] = [...errors, ...unknownParameters(q, EVENT_PARAMS)];
    const format = (q.format ?? 'json') as AuditFormat;
    if (!AUDIT_FORMATS.includes(format)) fieldErrors.push({ path: 'format', message: 'must be json, ndjson or csv' });
    const order = (q.order ?? 'asc') as AuditOrder;
    if (!AUDIT_ORDERS.includes(order)) fieldErrors.push({ path: 'order', message: 'must be asc (oldest first) or desc (newest first)' });
    let cursor: AuditCursor | undefined;
    if (q.cursor !== undefined && AUDIT_ORDERS.includes(order)) {
      const read = readCursor(q.cursor, order);
      if (read.error) fieldErrors.push({ path: 'cursor', message: read.error });
      cursor = read.cursor;
    }
    let limit: number | undefined = format === 'json' ? DEFAULT_LIMIT : undefined;
    if (q.limit !== undefined) {
      const n = Number(q.limit);
      if (typeof q.limit !== 'string' || !Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
        fieldErrors.push({ path: 'limit', message: `must be an integer from 1 to ${MAX_LIMIT}` });
      } else limit = n;
    }
    if (fieldErrors.length > 0) {
      sendApiError(res, 400, 'BAD_REQUEST', `${fieldErrors.length} invalid parameter(s)`, fieldErrors);
      return;
    }
    // Fixing the newest id first makes the page exact while events keep arriving.
    const plan = await query.plan(filter, order, cursor, limit, await query.maxId());
    const next = plan.next === null ? null : encodeCursor(plan.next);
    res.status(200).setHeader('Content-Type', CONTENT_TYPES[format]);
    if (next) {
      res.setHeader('X-Next-Cursor', next);
      const params = new URLSearchParams(Object.entries(q).filter(([k, v]) => k !== 'cursor' && typeof v === 'string') as [string, string][]);
      params.set('cursor', next);
      res.setHeader('Link', `<${req.baseUrl}${req.path}?${params.toString()}>; rel="next"`);
    }
    if (format === 'csv') res.setHeader('Content-Disposition', 'attachment; filename="audit-events.csv"');
    await writeAuditEvents(res, format, query.pageRows(filter, order, plan), next);
    res.end();
  });

  // Before /audit/events/:id, which would otherwise take "live" for an id.
  r.get('/audit/events/live', readers, liveAuditEvents({ db: d.db, log: d.log, streams: d.live }));

  r.get('/audit/events/:id', readers, async (req, res) => {
    const text = String(req.params.id);
    const id = /^[1-9]\d{0,15}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(id)) {
      sendApiError(res, 400, 'BAD_REQUEST', '1 invalid parameter(s)', [{ path: 'id', message: 'must be an event id (a positive integer)' }]);
      return;
    }
    const [row] = await d.db.audit.rows({}, id - 1, id, 1);
    if (!row) {
      sendApiError(res, 404, 'NOT_FOUND', `there is no audit event ${id} (never written, or removed by retention)`);
      return;
    }
    res.json(rowToEvent(row));
  });

  r.get('/audit/summary', readers, async (req, res) => {
    const { params, errors } = parseSummaryParams(req.query as Record<string, unknown>);
    if (!params) {
      sendApiError(res, 400, 'BAD_REQUEST', `${errors.length} invalid parameter(s)`, errors);
      return;
    }
    res.json(await summarize(d.db.audit, params));
  });

  // Held against the configured checkpoint file when there is one. The chain's state (not a caller's unusable
  // checkpoint) goes to metrics.
  r.get('/audit/verify', readers, async (_req, res) => {
    const cp = d.checkpoints;
    const report = cp?.file
      ? await verifyWithCheckpoints(d.db.audit, await readCheckpointFile(cp.file), cp.key)
      : await verifyChain(d.db.audit);
    d.onChainVerified?.(report);
    res.json(verifyAnswer(report));
  });

  // Held against checkpoints the caller sends (the copy kept off the machine): {"checkpoints": [...]}.
  r.post('/audit/verify', readers, onlyKnown({ body: ['checkpoints'] }), async (req, res) => {
    const cp = d.checkpoints;
    if (!cp) {
      sendApiError(res, 409, 'NOT_CONFIGURED', 'audit.checkpoint.key is not configured: there is no key to verify checkpoints with');
      return;
    }
    const list = (req.body as { checkpoints?: unknown } | undefined)?.checkpoints;
    if (!Array.isArray(list)) {
      sendApiError(res, 400, 'BAD_REQUEST', '1 invalid parameter(s)', [{ path: 'checkpoints', message: 'must be an array of checkpoints' }]);
      return;
    }
    const report = await verifyWithCheckpoints(d.db.audit, list, cp.key, { requireOne: true });
    d.onChainVerified?.(report);
    res.json(verifyAnswer(report));
  });

  return r;
}

function verifyAnswer(report: ChainReport & CheckpointedReport): Record<string, unknown> {
  return {
    ok: report.ok, events: report.events, firstBroken: report.firstBroken, ...(report.reason ? { reason: report.reason } : {}), head: report.head,
    ...(report.checkpoints ? { checkpoints: report.checkpoints } : {}),
    ...(report.checkpointErrors ? { checkpointErrors: report.checkpointErrors } : {}),
  };
}
