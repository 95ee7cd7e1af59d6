import type { Database } from '../db/types.js';
import { evaluateRule } from '../policy/evaluate.js';
import { matchRule } from '../policy/match.js';
import type { Outcome, PolicyRule } from '../policy/types.js';
import type { Evidence } from '../verify/types.js';
import { AuditQuery } from '../audit/audit-query.js';
import { judgeRule, pacer, type JudgementTrust } from './rule-judgement.js';

export type ReplayOutcome = Outcome | 'unknown';

export interface ReplayImage {
  repository: string;
  /** Null for pulls refused by name, before any manifest was resolved. */
  digest: string | null;
  references: string[];
  pulls: number;
  before: Outcome;
  after: ReplayOutcome;
  rule: string | null;
  reasons: string[];
}

export interface ReplayGroup {
  pulls: number;
  images: ReplayImage[];
}

export interface ReplayResult {
  since: string;
  until: string;
  /** Manifest pulls with a decision in the window. */
  pulls: number;
  unchanged: number;
  allowToDeny: ReplayGroup;
  denyToAllow: ReplayGroup;
  /** Pulls under enforce/warn rules whose digest has no cached evidence: the draft cannot be judged. */
  unknown: ReplayGroup;
}

const MAX_IMAGES = 1000;

/**
 * Evaluates a draft policy against every manifest pull recorded between `since` and `until`, with the
 * evidence cached for each digest and each pull's own time (freshness and scan age are judged as they were
 * then), through the same judgement as a pull (rule-judgement.ts): signatures, conditions, the
 * `vulnerabilities` block and exceptions, under today's revocations, exceptions and known-exploited
 * catalog (the draft would apply from now on, so it meets today's trust). Served means allow or warn; a
 * pull flips when the draft changes served to denied or back. Unlike a live decision (decision-room.ts) it
 * gathers nothing and reads only what the pull recorded (its artifact subject, its covering index) and the
 * evidence cached then, so a digest without cached evidence is `unknown`.
 */
export async function replayPolicy(
  db: Database,
  rules: readonly PolicyRule[],
  since: string,
  until: string,
  fingerprint: string | undefined,
  trust: JudgementTrust,
): Promise<ReplayResult> {
  // Evidence belongs to the repository it was gathered in; a canonical name is `<upstream>/<repository>`.
  const evidenceCache = new Map<string, Evidence | null>();
  const loadEvidence = async (canonical: string, digest: string | null | undefined): Promise<void> => {
    const key = `${canonical}@${digest}`;
    if (!digest || evidenceCache.has(key)) return;
    const slash = canonical.indexOf('/');
    const json = await db.cache.latestEvidence(canonical.slice(0, slash), canonical.slice(slash + 1), digest, fingerprint ?? '');
    evidenceCache.set(key, json ? (JSON.parse(json) as Evidence) : null);
  };
  const evidenceOf = (canonical: string, digest: string): Evidence | null => evidenceCache.get(`${canonical}@${digest}`) ?? null;

  // Trust is today's: revoked signers, exceptions active now and the catalog as it is now count; the time
  // judged (freshness, scans.maxAge, grace periods) is each pull's own.
  const replayedAt = new Date().toISOString();
  const current: JudgementTrust = { ...trust, exceptions: { list: trust.exceptions.list.filter((e) => e.until > replayedAt) } };
  type Judged = { outcome: ReplayOutcome; rule: string | null; reasons: string[] };
  const judge = async (repository: string, digest: string, at: Date, parent?: string, tag = ''): Promise<Judged> => {
    const rule = matchRule(rules, repository);
    if (!rule) return { outcome: 'deny', rule: null, reasons: [`no policy rule matches ${repository}`] };
    const needsEvidence = rule.mode === 'enforce' || rule.mode === 'warn';
    const evidence = needsEvidence ? evidenceOf(repository, digest) ?? undefined : undefined;
    if (needsEvidence && !evidence) return { outcome: 'unknown', rule: rule.name, reasons: [`no cached evidence for ${digest}`] };
    const ctx = { ...current, now: at, repository, tag };
    // As a pull: the digest on its own, then, when not allowed, under the verified index that lists it.
    let d = await judgeRule(rule, evidence, { ...ctx, digests: [digest] });
    if (d.outcome !== 'allow' && parent && evidence) {
      const p = await judge(repository, parent, at);
      if (p.outcome === 'allow') d = await judgeRule(rule, evidence, { ...ctx, parentVerdict: 'allow', digests: [digest, parent] });
    }
    return { outcome: d.outcome, rule: rule.name, reasons: d.reasons };
  };

  const judgeName = (repository: string): { outcome: ReplayOutcome; rule: string | null; reasons: string[] } => {
    const rule = matchRule(rules, repository);
    if (!rule) return { outcome: 'deny', rule: null, reasons: [`no policy rule matches ${repository}`] };
    if (rule.mode === 'allow' || rule.mode === 'deny') {
      const d = evaluateRule(rule, undefined, { now: new Date() });
      return { outcome: d.outcome, rule: rule.name, reasons: d.reasons };
    }
    return { outcome: 'unknown', rule: rule.name, reasons: ['refused by name before a digest was resolved: no evidence to judge'] };
  };

  const groups = { allowToDeny: new Map<string, ReplayImage>(), denyToAllow: new Map<string, ReplayImage>(), unknown: new Map<string, ReplayImage>() };
  const counts = { allowToDeny: 0, denyToAllow: 0, unknown: 0 };
  let pulls = 0;
  let unchanged = 0;
  const query = new AuditQuery(db.audit);
  const pace = pacer();
  const filter = { kind: 'pull.manifest', since, until };
  for await (const batch of query.batches(filter, 0, Number.MAX_SAFE_INTEGER, await query.maxId())) {
    for (const row of batch) {
      await pace();
      if (!row.decision || !row.repository) continue;
      pulls++;
      const recorded = parseEvidence(row.evidence);
      const digest = typeof recorded.artifactFor === 'string' ? recorded.artifactFor : row.digest;
      const parent = typeof recorded.coveredByIndex === 'string' ? recorded.coveredByIndex : undefined;
      if (evidenceCache.size > 10_000) evidenceCache.clear();
      await loadEvidence(row.repository, digest);
      await loadEvidence(row.repository, parent);
      const before = row.decision as Outcome;
      // A pull refused by its name never resolved a digest: only a draft that decides by name can judge it.
      const tag = digest === row.digest && row.reference && !row.reference.includes(':') ? row.reference : '';
      const after = digest ? await judge(row.repository, digest, new Date(row.time), parent, tag) : judgeName(row.repository);
      const servedBefore = before !== 'deny';
      const key = after.outcome === 'unknown' ? 'unknown' : servedBefore && after.outcome === 'deny' ? 'allowToDeny' : !servedBefore && after.outcome !== 'deny' ? 'denyToAllow' : undefined;
      if (!key) {
        unchanged++;
        continue;
      }
      counts[key]++;
      const id = `${row.repository}@${digest}|${before}|${after.outcome}`;
      let image = groups[key].get(id);
      if (!image && groups[key].size < MAX_IMAGES) {
        image = { repository: row.repository, digest, references: [], pulls: 0, before, after: after.outcome, rule: after.rule, reasons: after.reasons };
        groups[key].set(id, image);
      }
      if (image) {
        image.pulls++;
        if (row.reference && !image.references.includes(row.reference) && image.references.length < 20) image.references.push(row.reference);
      }
    }
  }
  const group = (k: keyof typeof counts): ReplayGroup => ({ pulls: counts[k], images: [...groups[k].values()] });
  return { since, until, pulls, unchanged, allowToDeny: group('allowToDeny'), denyToAllow: group('denyToAllow'), unknown: group('unknown') };
}

function parseEvidence(text: string | null): Record<string, unknown> {
  try {
    const v = JSON.parse(text ?? 'null') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
