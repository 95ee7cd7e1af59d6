import type { ProvenanceFacts, VerifiedAttestation } from './types.js';
import { VerifyFailure } from './verify-error.js';
import { isReportPredicate, reduceReport } from '../vuln/report/reduce.js';
import { ReportError, type ReportFacts } from '../vuln/report/types.js';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const SLSA_V02 = 'https://slsa.dev/provenance/v0.2';
export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
const STATEMENT_TYPES = ['https://in-toto.io/Statement/v0.1', 'https://in-toto.io/Statement/v1'];

export interface Statement {
  type: string;
  predicateType: string;
  subjects: Array<{ name?: string; digest: Record<string, string> }>;
  predicate: unknown;
  /** A scan or VEX predicate already reduced (off the event loop, for a large report); its predicate is then not kept. */
  report?: ReportFacts;
  /** Why a scan or VEX predicate could not be reduced (read off the event loop). */
  reportError?: string;
}

/** Digests the signed statement must name; `unchecked` only where the subject is not available (tests of npm bundles). */
export type ExpectedSubject = { digests: Record<string, string> } | 'unchecked';

export function parseStatement(payloadType: string, payload: Buffer, expected: ExpectedSubject): Statement {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    throw new VerifyFailure('UNSUPPORTED', `DSSE payloadType "${payloadType}" is not ${IN_TOTO_PAYLOAD_TYPE}`);
  }
  let doc: any;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new VerifyFailure('MALFORMED', 'in-toto statement is not JSON');
  }
  if (!STATEMENT_TYPES.includes(doc?._type)) throw new VerifyFailure('UNSUPPORTED', `statement _type ${JSON.stringify(doc?._type)}`);
  if (typeof doc.predicateType !== 'string' || !Array.isArray(doc.subject)) {
    throw new VerifyFailure('MALFORMED', 'statement lacks predicateType or subject');
  }
  const subjects = (doc.subject as any[])
    .filter((s) => s && typeof s.digest === 'object' && s.digest)
    .map((s) => ({ name: typeof s.name === 'string' ? s.name : undefined, digest: s.digest as Record<string, string> }));
  if (expected !== 'unchecked') {
    const hit = subjects.some((s) => Object.entries(expected.digests).some(([alg, hex]) => s.digest[alg]?.toLowerCase() === hex));
    if (!hit) {
      const named = subjects.map((s) => Object.entries(s.digest).map(([a, h]) => `${a}:${String(h).slice(0, 12)}…`).join(',')).join(' ');
      const want = Object.entries(expected.digests).map(([a, h]) => `${a}:${h}`)[0];
      throw new VerifyFailure('DIGEST_MISMATCH', `statement subjects [${named}] do not include ${want}`);
    }
  }
  return { type: doc._type, predicateType: doc.predicateType, subjects, predicate: doc.predicate };
}

/** Statements up to this size keep their predicate in evidence for policy conditions. */
export const MAX_PREDICATE_BYTES = 256 * 1024;
/** Subjects kept with a predicate (a statement may cover many artifacts; conditions rarely need them all). */
const MAX_KEPT_SUBJECTS = 64;

/**
 * The statement's predicate, type and subjects as evidence keeps them for attestation conditions: up to
 * MAX_PREDICATE_BYTES of statement; beyond that only the reason it was not kept.
 */
export function statementFacts(st: Statement, payloadBytes: number): Pick<VerifiedAttestation, 'predicate' | 'statement' | 'predicateOmitted'> {
  if (payloadBytes > MAX_PREDICATE_BYTES) {
    return { predicateOmitted: `the statement is ${payloadBytes} bytes; predicates are kept up to ${MAX_PREDICATE_BYTES}` };
  }
  const statement = { type: st.type, subject: st.subjects.slice(0, MAX_KEPT_SUBJECTS).map((s) => (s.name === undefined ? { digest: s.digest } : s)) };
  return { predicate: st.predicate ?? null, statement };
}

/**
 * A scan or VEX predicate reduced to its compact facts, once, when its attestation is verified. A report that
 * cannot be read keeps the attestation (conditions may still read a predicate of another scanner's shape) and
 * says why it is no scan: the vulnerability gate counts it as unreadable.
 */
export function reportFacts(st: Pick<Statement, 'predicateType' | 'predicate' | 'report' | 'reportError'>): Pick<VerifiedAttestation, 'report' | 'reportError'> {
  if (!isReportPredicate(st.predicateType)) return {};
  if (st.report) return { report: st.report };
  if (st.reportError) return { reportError: st.reportError };
  try {
    const report = reduceReport(st.predicateType, st.predicate);
    return report ? { report } : {};
  } catch (err) {
    if (err instanceof ReportError) return { reportError: `MALFORMED: ${st.predicateType} report: ${err.message}` };
    throw err;
  }
}

/** Facts the policy can match, from SLSA v0.2 or v1 provenance. Undefined for other predicates. */
export function provenanceFacts(st: Statement): ProvenanceFacts | undefined {
  const p = st.predicate as any;
  if (!p || typeof p !== 'object') return undefined;
  if (st.predicateType === SLSA_V02) {
    return clean({
      predicateType: st.predicateType,
      builderId: str(p.builder?.id),
      sourceRepository: normaliseRepo(str(p.invocation?.configSource?.uri)),
      sourceRef: refOf(str(p.invocation?.configSource?.uri)),
      sourceBranch:
        branchOf(refOf(str(p.invocation?.configSource?.uri))) ?? branchOf(str(p.invocation?.environment?.github_event_payload?.base_ref)),
      finishedOn: isoDate(p.metadata?.buildFinishedOn),
    });
  }
  if (st.predicateType === SLSA_V1) {
    const ext = p.buildDefinition?.externalParameters;
    const repo = str(ext?.workflow?.repository) ?? str(ext?.source?.uri) ?? str(p.buildDefinition?.resolvedDependencies?.[0]?.uri);
    return clean({
      predicateType: st.predicateType,
      builderId: str(p.runDetails?.builder?.id),
      sourceRepository: normaliseRepo(repo),
      sourceRef: str(ext?.workflow?.ref) ?? refOf(str(p.buildDefinition?.resolvedDependencies?.[0]?.uri)),
      sourceBranch: branchOf(str(ext?.workflow?.ref) ?? refOf(str(p.buildDefinition?.resolvedDependencies?.[0]?.uri))),
      finishedOn: isoDate(p.runDetails?.metadata?.finishedOn),
    });
  }
  return undefined;
}

/**
 * Source repositories are compared as URLs without the ref: `git+https://github.com/o/r@refs/heads/main`,
 * `github.com/o/r` and `https://github.com/o/r` all become `https://github.com/o/r`.
 */
export function normaliseRepo(uri: string | undefined): string | undefined {
  return uri ? splitRepoRef(uri).repo : undefined;
}

export function splitRepoRef(uri: string): { repo: string; ref?: string } {
  let u = uri.replace(/^git\+/, '');
  if (!u.includes('://')) u = `https://${u}`;
  let ref: string | undefined;
  const at = u.indexOf('@', u.indexOf('://') + 3);
  if (at > 0) {
    ref = u.slice(at + 1) || undefined;
    u = u.slice(0, at);
  }
  return { repo: u.replace(/\.git$/, '').replace(/\/+$/, ''), ref };
}

function refOf(uri: string | undefined): string | undefined {
  return uri ? splitRepoRef(uri).ref : undefined;
}

function branchOf(ref: string | undefined): string | undefined {
  return ref?.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) || undefined : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function isoDate(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}
