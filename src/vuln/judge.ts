import type { PolicyException } from '../policy/exception.js';
import { describeRequirement, describeSigner, satisfiesAny } from '../policy/signer-match.js';
import { isScanPredicate } from './report/reduce.js';
import type { VulnerabilityRequirement } from '../policy/types.js';
import type { Evidence } from '../verify/types.js';
import { parseDuration } from '../text/duration.js';
import type { Finding, Severity } from './report/types.js';
import { SEVERITIES } from './report/types.js';
import { idsOf, namedBy, upperSet } from './ids.js';
import { newestPerScanner, scansOf, vexOf } from './scans.js';
import { splitVex, vexFor } from './vex-match.js';
import { denialText, type Blocking } from './denial-text.js';

const DAY_MS = 86_400_000;

export interface JudgeContext {
  now: Date;
  /** `<upstream>/<repository>`. */
  repository: string;
  /** The manifest digest, and the index digest that lists it when judged under one. */
  digests: readonly string[];
  exceptions: readonly PolicyException[];
  /** Ids in the known-exploited catalog; undefined with the reason when it cannot be read. */
  knownExploited: { ids: ReadonlySet<string> } | { error: string };
}

export type Suppression =
  | { id: string; by: 'vex'; author?: string; signer: string; status: string; timestamp?: string; justification?: string; impactStatement?: string }
  | { id: string; by: 'exception'; exception: number; until: string };

export interface VulnerabilityJudgement {
  /** The one denial reason (`vulnerabilities: …`), or none. */
  reason?: string;
  /** For the audit event and `policy evaluate`. */
  evidence: Record<string, unknown>;
  /** The CEL variable `vulnerabilities`. */
  view: { scanTime: string | null; scanner: string | null; findings: Finding[]; suppressed: Suppression[] };
}

/** Judges a rule's `vulnerabilities` block on the evidence: signed, fresh scans, trusted VEX and exceptions. */
export function judgeVulnerabilities(req: VulnerabilityRequirement, evidence: Evidence, ctx: JudgeContext): VulnerabilityJudgement {
  const all = scansOf(evidence.attestations);
  const judged = newestPerScanner(all, req.scans.signedBy.anyOf);
  const { trusted, ignored } = splitVex(vexOf(evidence.attestations), req.vex?.signedBy.anyOf);
  const summary: Record<string, unknown> = {};
  if (ignored.length) summary.vexIgnored = ignored.map((s) => `VEX by ${s} ignored: not a vex.signedBy signer`);
  const empty = { scanTime: null, scanner: null, findings: [], suppressed: [] };

  if (judged.length === 0) {
    const wanted = req.scans.signedBy.anyOf.map(describeRequirement).join(' or ');
    const others = [...new Set(all.map((s) => describeSigner(s.att.signer)))];
    let why = `no signed scan by ${wanted}${others.length ? ` (scans signed by ${others.slice(0, 3).join(', ')} are not trusted)` : ''}`;
    // A scan that was refused (malformed, oversized, badly signed) says why, as a missing signature does.
    const unreadable = evidence.attestations.filter((a) => a.reportError && isScanPredicate(a.predicateType) && satisfiesAny(req.scans.signedBy.anyOf, a));
    if (unreadable.length) why += `; the signed scan cannot be read: ${unreadable[0]!.reportError}`;
    const refused = evidence.rejected.filter((r) => r.source !== 'sig-tag').slice(0, 2).map((r) => r.reason);
    if (refused.length) why += `; rejected: ${refused.join(' | ')}`;
    return { reason: `vulnerabilities: ${why}`, evidence: { ...summary, scan: null }, view: empty };
  }
  const maxAge = req.scans.maxAge !== undefined ? parseDuration(req.scans.maxAge) : undefined;
  const newest = judged[0]!;
  summary.scans = judged.map((s) => ({
    statementDigest: s.att.statementDigest,
    signer: describeSigner(s.att.signer),
    scanner: s.scan.scanner,
    ...(s.scan.dbUpdatedAt && { dbUpdatedAt: s.scan.dbUpdatedAt }),
    scanTime: s.time?.toISOString() ?? null,
    scanTimeSource: s.timeSource ?? null,
    counts: counts(s.scan.findings),
  }));
  if (maxAge !== undefined) {
    if (!newest.time) return { reason: 'vulnerabilities: scan time unknown (no log entry, timestamp or scanFinishedOn)', evidence: summary, view: empty };
    const age = ctx.now.getTime() - newest.time.getTime();
    if (age > maxAge) return { reason: `vulnerabilities: scan is ${ageText(age)} old (scans.maxAge ${req.scans.maxAge})`, evidence: summary, view: empty };
  }

  const denyIds = upperSet(req.deny?.ids);
  const threshold = req.deny?.severity;
  const grace = req.gracePeriod !== undefined ? parseDuration(req.gracePeriod) ?? 0 : 0;
  const kev = req.deny?.knownExploited ? ctx.knownExploited : undefined;
  const at = ctx.now.toISOString();
  const exceptions = ctx.exceptions.filter((e) => e.vulnerability && e.repository === ctx.repository && e.until > at && (e.digest === null || ctx.digests.includes(e.digest)));

  const findings: Finding[] = [];
  const suppressed: Suppression[] = [];
  const blocking: Blocking[] = [];
  const waiting: string[] = [];
  for (const f of uniqueFindings(judged.flatMap((s) => s.scan.findings))) {
    const vex = vexFor(f, trusted, ctx.repository, ctx.digests);
    if (vex && (vex.statement.status === 'not_affected' || vex.statement.status === 'fixed')) {
      const s = vex.statement;
      suppressed.push(clean({ id: f.id, by: 'vex' as const, author: vex.author, signer: vex.signer, status: s.status, timestamp: s.timestamp, justification: s.justification, impactStatement: s.impactStatement }));
      continue;
    }
    const exception = exceptions.find((e) => namedBy(f, upperSet([e.vulnerability!])));
    if (exception) {
      suppressed.push({ id: f.id, by: 'exception', exception: exception.id, until: exception.until });
      continue;
    }
    findings.push(f);
    const bySeverity = threshold !== undefined && rank(f.severity) >= rank(threshold) && (!req.deny?.fixableOnly || f.fixedVersion !== undefined);
    const byId = denyIds.size > 0 && namedBy(f, denyIds);
    const byKev = kev !== undefined && 'ids' in kev && idsOf(f).some((id) => kev.ids.has(id));
    if (!bySeverity && !byId && !byKev) continue;
    if (grace > 0 && f.publishedDate && ctx.now.getTime() - Date.parse(f.publishedDate) < grace) {
      waiting.push(f.id);
      continue;
    }
    blocking.push({ finding: f, group: bySeverity ? f.severity : byKev ? 'known exploited' : 'denied by id' });
  }
  summary.blocking = [...new Set(blocking.map((b) => b.finding.id))];
  if (suppressed.length) summary.suppressed = suppressed;
  if (waiting.length) summary.inGracePeriod = [...new Set(waiting)];
  const view = { scanTime: newest.time?.toISOString() ?? null, scanner: newest.scan.scanner.name, findings, suppressed };
  const reasons: string[] = [];
  if (blocking.length) reasons.push(denialText(blocking));
  if (kev && 'error' in kev) reasons.push(`vulnerabilities: the known-exploited catalog cannot be read: ${kev.error}`);
  return { ...(reasons.length && { reason: reasons.join('; ') }), evidence: summary, view };
}

/** `9 days`, or in hours, minutes or seconds under a day (a maxAge may be `12h`). */
function ageText(ms: number): string {
  for (const [unit, size] of [['day', DAY_MS], ['hour', 3_600_000], ['minute', 60_000]] as const) {
    const n = Math.floor(ms / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  const seconds = Math.floor(ms / 1000);
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

function rank(s: Severity): number {
  return SEVERITIES.length - 1 - SEVERITIES.indexOf(s);
}

function counts(findings: readonly Finding[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of findings) out[f.severity] = (out[f.severity] ?? 0) + 1;
  return out;
}

/** A vulnerability in one package at one version, once, whichever scanners or report sections list it. */
function uniqueFindings(list: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return list.filter((f) => {
    const key = `${f.id}\u0000${f.package}\u0000${f.installedVersion}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
