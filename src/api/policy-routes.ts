import { Router, type Request, type Response } from 'express';
import type { Identity } from '../auth/token-registry.js';
import { clientAddress } from '../auth/authenticator.js';
import type { Actor, PolicyVersions } from '../db/policy-versions.js';
import { OciError } from '../oci/errors.js';
import { validatePolicyRules } from '../policy/validate.js';
import { parseTime } from '../audit/audit-query.js';
import { replayPolicy } from '../audit/policy-replay.js';
import { sendApiError } from './api-error.js';
import { requireRole } from './api-auth.js';
import type { ApiDeps } from './api-router.js';

export type PolicyRouteDeps = Omit<ApiDeps, 'log' | 'purge'>;

/** /policy: read (admin, auditor), replace and roll back (admin), evaluate (admin, auditor), replay (admin). */
export function policyRoutes(d: PolicyRouteDeps): Router {
  const r = Router();
  const readers = requireRole(d.auth, 'auditor');
  const admins = requireRole(d.auth);

  r.get('/policy', readers, (_req, res) => {
    const active = d.policies.current();
    res.json({ version: active.version, policies: active.rules });
  });

  r.put('/policy', admins, async (req, res) => {
    const body: unknown = req.body;
    const rules = Array.isArray(body) ? body : isObject(body) ? body.policies : undefined;
    const checked = validatePolicyRules(rules, d.knownKeys, d.knownRoots);
    if (!checked.rules) {
      sendApiError(res, 400, 'POLICY_INVALID', `the policy has ${checked.errors.length} error(s); the active policy is unchanged`, checked.errors);
      return;
    }
    const version = await d.policies.update(checked.rules, actor(req, res));
    await d.announce({ type: 'policy.changed' });
    res.json(await withRules(d.policies, version));
  });

  r.get('/policy/versions', readers, async (_req, res) => {
    res.json({ versions: await d.policies.list() });
  });

  r.get('/policy/versions/:version', readers, async (req, res) => {
    const found = await d.policies.get(Number(req.params.version));
    if (!found) sendApiError(res, 404, 'NOT_FOUND', `policy version ${String(req.params.version)} does not exist`);
    else res.json(found);
  });

  r.post('/policy/rollback', admins, async (req, res) => {
    const version = isObject(req.body) ? req.body.version : undefined;
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      sendApiError(res, 400, 'BAD_REQUEST', 'body must be {"version": N} with a positive integer N', [{ path: 'version', message: 'must be a positive integer' }]);
      return;
    }
    // A version stored before a rule of validation existed (e.g. patterns that are not RE2) is checked
    // again, so a rollback cannot bring back what a PUT would refuse.
    const stored = await d.policies.get(version);
    const checked = stored && validatePolicyRules(stored.policies, d.knownKeys);
    if (checked && !checked.rules) {
      sendApiError(res, 400, 'POLICY_INVALID', `policy version ${version} has ${checked.errors.length} error(s) today; the active policy is unchanged`, checked.errors);
      return;
    }
    try {
      const created = await d.policies.rollback(version, actor(req, res));
      await d.announce({ type: 'policy.changed' });
      res.json(await withRules(d.policies, created));
    } catch (err) {
      if (err instanceof RangeError) sendApiError(res, 404, 'NOT_FOUND', err.message);
      else throw err;
    }
  });

  r.post('/policy/evaluate', readers, async (req, res) => {
    const image = isObject(req.body) ? req.body.image : undefined;
    if (typeof image !== 'string' || !image) {
      sendApiError(res, 400, 'BAD_REQUEST', 'body must be {"image": "upstream/repository:tag"}', [{ path: 'image', message: 'must be a non-empty string' }]);
      return;
    }
    try {
      res.json(await d.evaluate(image));
    } catch (err) {
      if (!(err instanceof OciError)) throw err;
      sendApiError(res, err.status, err.code, err.message);
    }
  });

  r.post('/policy/replay', admins, async (req: Request, res: Response) => {
    const body = isObject(req.body) ? req.body : {};
    const checked = validatePolicyRules(body.policies, d.knownKeys, d.knownRoots);
    const errors = [...checked.errors];
    const now = new Date();
    const since = body.since === undefined ? parseTime('7d', now) : typeof body.since === 'string' ? parseTime(body.since, now) : undefined;
    const until = body.until === undefined ? now.toISOString() : typeof body.until === 'string' ? parseTime(body.until, now) : undefined;
    if (!since) errors.push({ path: 'since', message: 'must be an ISO 8601 time or a duration back from now such as "7d"' });
    if (!until) errors.push({ path: 'until', message: 'must be an ISO 8601 time or a duration back from now such as "1d"' });
    if (!checked.rules || !since || !until) {
      sendApiError(res, 400, 'BAD_REQUEST', `the replay request has ${errors.length} error(s)`, errors);
      return;
    }
    res.json(await replayPolicy(d.db, checked.rules, since, until, d.fingerprint));
  });

  return r;
}

function actor(req: Request, res: Response): Actor {
  return { user: (res.locals.identity as Identity).name, client: clientAddress(req), requestId: res.locals.requestId as string };
}

async function withRules(policies: PolicyVersions, version: number) {
  const v = (await policies.get(version))!;
  return { version: v.version, policies: v.policies, source: v.source, author: v.author, time: v.time, diff: v.diff, summary: v.summary };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
