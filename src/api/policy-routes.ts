import { Router, type Request, type Response } from 'express';
import type { Identity } from '../auth/token-registry.js';
import { clientAddress } from '../auth/authenticator.js';
import type { Actor, PolicyVersions } from '../db/policy-versions.js';
import { PolicyVersionConflict } from '../db/policy-conflict.js';
import { OciError } from '../oci/errors.js';
import { validatePolicyRules } from '../policy/validate.js';
import { checkPolicy, commentError, rulesOf, type PolicyContext } from '../policy/policy-check.js';
import type { RuleError } from '../policy/validate.js';
import type { PolicyRule } from '../policy/types.js';
import { ifMatchVersions, setPolicyEtag } from './if-match.js';
import { parseTime } from '../audit/audit-query.js';
import { MOMENT_AGO_MESSAGE } from '../text/duration.js';
import { replayPolicy } from '../decide/policy-replay.js';
import { sendApiError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { dryRunOf, onlyKnown } from './known-input.js';
import type { ApiDeps } from './api-deps.js';
import { currentTrust } from '../decide/rule-judgement.js';

export type PolicyRouteDeps = Omit<ApiDeps, 'log' | 'purge'>;

/** /policy: read (admin, auditor), replace and roll back (admin), evaluate (admin, auditor), replay (admin). */
export function policyRoutes(d: PolicyRouteDeps): Router {
  const r = Router();
  const readers = requireRole(d.auth, 'auditor');
  const admins = requireRole(d.auth);
  const context: PolicyContext = { knownKeys: d.knownKeys, knownRoots: d.knownRoots, upstreams: d.upstreamNames };

  r.get('/policy', readers, (_req, res) => {
    const active = d.policies.current();
    setPolicyEtag(res, active.version);
    res.json({ version: active.version, policies: active.rules });
  });

  r.put('/policy', admins, onlyKnown({ query: ['dryRun'], body: ['policies', 'comment'] }), async (req, res) => {
    const body: unknown = req.body;
    const dryRun = dryRunOf(req);
    const comment = isObject(body) ? body.comment : undefined;
    const problems = [
      ...(dryRun === undefined ? [{ path: 'dryRun', message: 'must be true or false' }] : []),
      ...fieldError('comment', commentError(comment)),
    ];
    if (problems.length > 0) {
      sendApiError(res, 400, 'BAD_REQUEST', `the request has ${problems.length} error(s); the active policy is unchanged`, problems);
      return;
    }
    const checked = checkPolicy(rulesOf(body), context);
    if (!checked.rules) {
      sendApiError(res, 400, 'POLICY_INVALID', `the policy has ${checked.errors.length} error(s); the active policy is unchanged`, checked.errors);
      return;
    }
    const ifVersion = ifMatchVersions(req.get('If-Match'));
    if (dryRun) {
      await sendPreview(res, d.policies, checked.rules, ifVersion, comment, checked.warnings);
      return;
    }
    const version = await changeOr412(res, () => d.policies.update(checked.rules!, actor(req, res), { comment: comment as string | undefined, ifVersion }));
    if (version === undefined) return;
    await d.announce({ type: 'policy.changed' });
    setPolicyEtag(res, version);
    res.json({ ...(await withRules(d.policies, version)), warnings: checked.warnings });
  });

  r.get('/policy/versions', readers, async (_req, res) => {
    res.json({ versions: await d.policies.list() });
  });

  r.get('/policy/versions/:version', readers, async (req, res) => {
    const found = await d.policies.get(Number(req.params.version));
    if (!found) sendApiError(res, 404, 'NOT_FOUND', `policy version ${String(req.params.version)} does not exist`);
    else res.json(found);
  });

  r.post('/policy/rollback', admins, onlyKnown({ query: ['dryRun'], body: ['version', 'comment'] }), async (req, res) => {
    const version = isObject(req.body) ? req.body.version : undefined;
    const comment = isObject(req.body) ? req.body.comment : undefined;
    const dryRun = dryRunOf(req);
    if (dryRun === undefined) {
      sendApiError(res, 400, 'BAD_REQUEST', 'dryRun must be true or false', [{ path: 'dryRun', message: 'must be true or false' }]);
      return;
    }
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
      sendApiError(res, 400, 'BAD_REQUEST', 'body must be {"version": N} with a positive integer N', [{ path: 'version', message: 'must be a positive integer' }]);
      return;
    }
    const badComment = commentError(comment);
    if (badComment) {
      sendApiError(res, 400, 'BAD_REQUEST', `comment ${badComment}`, fieldError('comment', badComment));
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
    if (stored) {
      // A rollback to the rules already active would only add an empty version to the history.
      const preview = await d.policies.preview(stored.policies);
      const { added, removed, changed, reordered } = preview.diff;
      if (added.length + removed.length + changed.length === 0 && !reordered) {
        const which = preview.activeVersion === version ? `version ${version} is the active policy` : `version ${version} has the rules of the active version ${preview.activeVersion}`;
        sendApiError(res, 409, 'NO_CHANGE', `${which}; a rollback to it would change nothing`);
        return;
      }
    }
    if (dryRun) {
      if (!stored) sendApiError(res, 404, 'NOT_FOUND', `policy version ${version} does not exist`);
      else await sendPreview(res, d.policies, stored.policies, ifMatchVersions(req.get('If-Match')), comment, checkPolicy(stored.policies, context).warnings);
      return;
    }
    try {
      const created = await changeOr412(res, () =>
        d.policies.rollback(version, actor(req, res), { comment: comment as string | undefined, ifVersion: ifMatchVersions(req.get('If-Match')) }),
      );
      if (created === undefined) return;
      await d.announce({ type: 'policy.changed' });
      setPolicyEtag(res, created);
      const restored = await withRules(d.policies, created);
      res.json({ ...restored, warnings: checkPolicy(restored.policies, context).warnings });
    } catch (err) {
      if (err instanceof RangeError) sendApiError(res, 404, 'NOT_FOUND', err.message);
      else throw err;
    }
  });

  r.post('/policy/evaluate', readers, onlyKnown({ body: ['image'] }), async (req, res) => {
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

  r.post('/policy/replay', admins, onlyKnown({ body: ['policies', 'since', 'until'] }), async (req: Request, res: Response) => {
    const body = isObject(req.body) ? req.body : {};
    const checked = validatePolicyRules(body.policies, d.knownKeys, d.knownRoots);
    const errors = [...checked.errors];
    const now = new Date();
    const since = body.since === undefined ? parseTime('7d', now) : typeof body.since === 'string' ? parseTime(body.since, now) : undefined;
    const until = body.until === undefined ? now.toISOString() : typeof body.until === 'string' ? parseTime(body.until, now) : undefined;
    if (!since) errors.push({ path: 'since', message: MOMENT_AGO_MESSAGE });
    if (!until) errors.push({ path: 'until', message: MOMENT_AGO_MESSAGE });
    if (!checked.rules || !since || !until) {
      sendApiError(res, 400, 'BAD_REQUEST', `the replay request has ${errors.length} error(s)`, errors);
      return;
    }
    // The draft meets today's trust: revocations, exceptions and the known-exploited catalog as they are now.
    res.json(await replayPolicy(d.db, checked.rules, since, until, d.fingerprint, currentTrust(d.trust, d.knownExploited)));
  });

  return r;
}

function fieldError(path: string, message: string | undefined): RuleError[] {
  return message === undefined ? [] : [{ path, message }];
}

/** A dry run's answer: what would be stored, checked against what is active now (the write checks If-Match again). */
async function sendPreview(
  res: Response,
  policies: PolicyVersions,
  rules: PolicyRule[],
  ifVersion: readonly number[] | undefined,
  comment: unknown,
  warnings: RuleError[],
): Promise<void> {
  const preview = await policies.preview(rules);
  if (ifVersion && (preview.activeVersion === null || !ifVersion.includes(preview.activeVersion))) {
    sendConflict(res, new PolicyVersionConflict(preview.activeVersion, ifVersion));
    return;
  }
  setPolicyEtag(res, preview.activeVersion);
  res.json({ dryRun: true, ...preview, policies: rules, ...(comment === undefined ? {} : { comment }), warnings });
}

/** Runs a conditional change; a lost race (If-Match no longer the active version) answers 412. */
async function changeOr412(res: Response, change: () => Promise<number>): Promise<number | undefined> {
  try {
    return await change();
  } catch (err) {
    if (!(err instanceof PolicyVersionConflict)) throw err;
    sendConflict(res, err);
    return undefined;
  }
}

function sendConflict(res: Response, err: PolicyVersionConflict): void {
  setPolicyEtag(res, err.active);
  sendApiError(res, 412, 'PRECONDITION_FAILED', `If-Match does not hold: ${err.message}; the active policy is unchanged (read it again, then retry)`);
}

function actor(req: Request, res: Response): Actor {
  return { user: (res.locals.identity as Identity).name, client: clientAddress(req), requestId: res.locals.requestId as string };
}

async function withRules(policies: PolicyVersions, version: number) {
  const v = (await policies.get(version))!;
  return { version: v.version, policies: v.policies, source: v.source, author: v.author, time: v.time, comment: v.comment, diff: v.diff, summary: v.summary };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
