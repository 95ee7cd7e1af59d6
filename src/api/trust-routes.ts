import { Router, type Request, type Response } from 'express';
import type { Identity } from '../auth/token-registry.js';
import { clientAddress } from '../auth/authenticator.js';
import type { Actor } from '../db/policy-versions.js';
import type { TrustChanges } from '../db/trust-changes.js';
import { isDigest } from '../oci/digest.js';
import type { RevokedSigner } from '../policy/revocation.js';
import { matchRule } from '../policy/match.js';
import type { PolicyRule } from '../policy/types.js';
import { VULNERABILITY_ID } from '../policy/validate-vulnerabilities.js';
import { sendApiError, type FieldError } from './api-error.js';
import { requireRole } from './api-auth.js';
import { dryRunOf, onlyKnown } from './known-input.js';
import type { ApiDeps } from './api-deps.js';
import { gatherImpact, judgeImpact } from '../decide/revocation-impact.js';
import { currentTrust } from '../decide/rule-judgement.js';
import { formatDuration, MOMENT_AHEAD_MESSAGE, parseMoment } from '../text/duration.js';

/** The longest an exception may last. */
export const MAX_EXCEPTION_MS = 30 * 86_400_000;

export type TrustRouteDeps = Pick<ApiDeps, 'auth' | 'db' | 'policies' | 'knownKeys' | 'announce' | 'upstreamNames' | 'fingerprint' | 'knownExploited'> & { trust: TrustChanges };

/**
 * /trust/revocations and /exceptions: list (admin, auditor), create and remove (admin). Each change is
 * audited, and every worker of this machine holds it before the API answers (other replicas within a second).
 */
export function trustRoutes(d: TrustRouteDeps): Router {
  const r = Router();
  const readers = requireRole(d.auth, 'auditor');
  const admins = requireRole(d.auth);

  r.get('/trust/revocations', readers, async (_req, res) => {
    res.json({ revocations: await d.trust.listRevocations() });
  });

  r.post('/trust/revocations', admins, onlyKnown({ query: ['dryRun'], body: ['key', 'keyless', 'logIndex', 'notation', 'reason'] }), async (req, res) => {
    const dryRun = dryRunOf(req);
    if (dryRun === undefined) {
      sendApiError(res, 400, 'BAD_REQUEST', 'dryRun must be true or false', [{ path: 'dryRun', message: 'must be true or false' }]);
      return;
    }
    const { signer, reason, errors } = parseRevocation(req.body, d.knownKeys);
    if (!signer || !reason) {
      sendApiError(res, 400, 'BAD_REQUEST', 'body must be {"key": NAME} or {"keyless": {"issuer", "subject"}} or {"logIndex": N} or {"notation": {"fingerprint"}}, with a "reason"', errors);
      return;
    }
    // The audit event records the impact, judged before the revocation is stored, under a stand-in for it
    // (which digests it denies does not depend on its id). The answer is judged again once it is stored and
    // in force, so its reasons name the revocation by its id, as a pull's will.
    const rules = d.policies.current().rules;
    const candidates = await gatherImpact(d.db, signer, d.fingerprint ?? '');
    const standIn = { list: [...d.trust.revocations().list, { id: 0, signer, reason, author: '', time: '' }] };
    const before = await judgeImpact(candidates, rules, currentTrust(d.trust, d.knownExploited, standIn));
    // A dry run answers the impact the revocation would have and changes nothing.
    if (dryRun) {
      res.json({ dryRun: true, signer, reason, impact: before });
      return;
    }
    const revocation = await d.trust.revoke(signer, reason, actor(req, res), () => ({
      admitted: before.admitted,
      wouldBeDenied: before.wouldBeDenied.slice(0, 50).map((i) => ({ repository: i.repository, digest: i.digest })),
    }));
    const impact = await judgeImpact(candidates, rules, currentTrust(d.trust, d.knownExploited));
    await d.announce({ type: 'trust.changed' });
    res.status(201).json({ ...revocation, impact });
  });

  r.delete('/trust/revocations/:id', admins, onlyKnown({}), async (req, res) => {
    const id = Number(req.params.id);
    const lifted = Number.isSafeInteger(id) && id > 0 ? await d.trust.lift(id, actor(req, res)) : undefined;
    if (!lifted) {
      sendApiError(res, 404, 'NOT_FOUND', `no active revocation ${String(req.params.id)}`);
      return;
    }
    await d.announce({ type: 'trust.changed' });
    res.json(lifted);
  });

  r.get('/exceptions', readers, async (_req, res) => {
    res.json({ exceptions: await d.trust.listExceptions() });
  });

  r.post('/exceptions', admins, onlyKnown({ body: ['match', 'until', 'reason', 'coverDenyRule', 'vulnerability'] }), async (req, res) => {
    const parsed = parseException(req.body, d.upstreamNames, new Date());
    if (!parsed.exception) {
      sendApiError(res, 400, 'BAD_REQUEST', `the exception has ${parsed.errors.length} error(s)`, parsed.errors);
      return;
    }
    const created = await d.trust.except(parsed.exception, actor(req, res));
    await d.announce({ type: 'trust.changed' });
    res.status(201).json({ ...created, warnings: exceptionWarnings(parsed.exception, d.policies.current().rules) });
  });

  r.delete('/exceptions/:id', admins, onlyKnown({}), async (req, res) => {
    const id = Number(req.params.id);
    const revoked = Number.isSafeInteger(id) && id > 0 ? await d.trust.revokeException(id, actor(req, res)) : undefined;
    if (!revoked) {
      sendApiError(res, 404, 'NOT_FOUND', `no active exception ${String(req.params.id)}`);
      return;
    }
    await d.announce({ type: 'trust.changed' });
    res.json(revoked);
  });

  return r;
}

function parseRevocation(body: unknown, knownKeys: ReadonlySet<string>): { signer?: RevokedSigner; reason?: string; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (!isObject(body)) return { errors: [{ path: '', message: 'must be a JSON object' }] };
  const given = ['key', 'keyless', 'logIndex', 'notation'].filter((k) => body[k] !== undefined);
  if (given.length !== 1) errors.push({ path: '', message: 'must name exactly one of key, keyless, logIndex, notation' });
  let signer: RevokedSigner | undefined;
  if (body.key !== undefined) {
    if (typeof body.key !== 'string' || !knownKeys.has(body.key)) errors.push({ path: 'key', message: `must name a key in trust.keys (${[...knownKeys].join(', ') || 'none configured'})` });
    else signer = { key: body.key };
  }
  if (body.keyless !== undefined) {
    const k = body.keyless;
    const ok = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 1024;
    if (!isObject(k) || !ok(k.issuer) || !ok(k.subject) || Object.keys(k).some((x) => x !== 'issuer' && x !== 'subject')) {
      errors.push({ path: 'keyless', message: 'must be {"issuer": "…", "subject": "…"}, both exact' });
    } else signer = { keyless: { issuer: k.issuer as string, subject: k.subject as string } };
  }
  if (body.logIndex !== undefined) {
    if (typeof body.logIndex !== 'number' || !Number.isSafeInteger(body.logIndex) || body.logIndex < 0) errors.push({ path: 'logIndex', message: 'must be a non-negative integer' });
    else signer = { logIndex: body.logIndex };
  }
  if (body.notation !== undefined) {
    const n = body.notation;
    // The fingerprint as `openssl x509 -fingerprint -sha256` prints it (colons, any case) or plain hex.
    const hex = isObject(n) && typeof n.fingerprint === 'string' ? n.fingerprint.replace(/:/g, '').toLowerCase() : '';
    if (!isObject(n) || Object.keys(n).some((x) => x !== 'fingerprint') || !/^[0-9a-f]{64}$/.test(hex)) {
      errors.push({ path: 'notation', message: 'must be {"fingerprint": "<SHA-256 of the signing certificate, 64 hex digits>"}' });
    } else signer = { notation: { fingerprint: hex } };
  }
  const reason = typeof body.reason === 'string' && body.reason.trim() && body.reason.length <= 1024 ? body.reason : undefined;
  if (!reason) errors.push({ path: 'reason', message: 'must be a non-empty string of at most 1024 characters' });
  return errors.length ? { errors } : { signer, reason, errors };
}

function parseException(body: unknown, upstreams: ReadonlySet<string>, now: Date) {
  const errors: FieldError[] = [];
  if (!isObject(body)) return { errors: [{ path: '', message: 'must be a JSON object' }] };
  let repository: string | undefined;
  let digest: string | null = null;
  if (typeof body.match !== 'string' || body.match.length > 512) {
    errors.push({ path: 'match', message: 'must be "<upstream>/<repository>" or "<upstream>/<repository>@sha256:…"' });
  } else {
    const at = body.match.indexOf('@');
    repository = at < 0 ? body.match : body.match.slice(0, at);
    if (at >= 0) {
      digest = body.match.slice(at + 1);
      if (!isDigest(digest)) errors.push({ path: 'match', message: `"${digest}" is not a digest` });
    }
    const upstream = repository.split('/')[0]!;
    if (!upstreams.has(upstream) || !/^[a-z0-9._-]+(\/[a-z0-9._-]+)+$/.test(repository)) {
      errors.push({ path: 'match', message: `must start with a configured upstream (${[...upstreams].join(', ')}) and name one repository, no tag or pattern` });
    }
  }
  let until: string | undefined;
  const t = typeof body.until === 'string' ? parseMoment(body.until, now.getTime(), 'ahead') : undefined;
  if (t === undefined) errors.push({ path: 'until', message: `${MOMENT_AHEAD_MESSAGE} (at most ${formatDuration(MAX_EXCEPTION_MS)})` });
  else if (t <= now.getTime()) errors.push({ path: 'until', message: 'must be in the future' });
  else if (t - now.getTime() > MAX_EXCEPTION_MS) errors.push({ path: 'until', message: `must be at most ${formatDuration(MAX_EXCEPTION_MS)} from now` });
  else until = new Date(t).toISOString();
  const reason = typeof body.reason === 'string' && body.reason.trim() && body.reason.length <= 1024 ? body.reason : undefined;
  if (!reason) errors.push({ path: 'reason', message: 'must be a non-empty string of at most 1024 characters' });
  if (body.coverDenyRule !== undefined && typeof body.coverDenyRule !== 'boolean') errors.push({ path: 'coverDenyRule', message: 'must be a boolean' });
  const vulnerability = body.vulnerability === undefined ? null : typeof body.vulnerability === 'string' && VULNERABILITY_ID.test(body.vulnerability) ? body.vulnerability : undefined;
  if (vulnerability === undefined) errors.push({ path: 'vulnerability', message: 'must be a vulnerability id such as CVE-2024-3094 or GHSA-…' });
  else if (vulnerability && body.coverDenyRule === true) errors.push({ path: 'coverDenyRule', message: 'a vulnerability exception suppresses one finding; it cannot cover a deny rule' });
  if (errors.length || !repository || !until || !reason || vulnerability === undefined) return { errors };
  return { errors, exception: { repository, digest, until, reason, coverDenyRule: body.coverDenyRule === true, vulnerability } };
}

/** An exception that can never apply: its name is refused by name (a deny rule, or no rule) and it does not cover that. */
function exceptionWarnings(e: { repository: string; coverDenyRule: boolean; vulnerability: string | null }, rules: readonly PolicyRule[]): FieldError[] {
  if (e.vulnerability) {
    const rule = matchRule(rules, e.repository);
    return rule?.vulnerabilities ? [] : [{ path: 'vulnerability', message: `no rule with a vulnerabilities block matches ${e.repository}, so this exception has nothing to suppress` }];
  }
  if (e.coverDenyRule) return [];
  const rule = matchRule(rules, e.repository);
  const never = 'this exception never applies unless coverDenyRule is true';
  if (!rule) return [{ path: 'coverDenyRule', message: `no policy rule matches ${e.repository}, so it is denied by name and ${never}` }];
  if (rule.mode === 'deny') return [{ path: 'coverDenyRule', message: `policy "${rule.name}" denies ${e.repository} by name, so ${never}` }];
  return [];
}

function actor(req: Request, res: Response): Actor {
  return { user: (res.locals.identity as Identity).name, client: clientAddress(req), requestId: res.locals.requestId as string };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
