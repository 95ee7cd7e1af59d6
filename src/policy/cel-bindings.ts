import type { CelInput } from '@bufbuild/cel';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Evidence, ImageFacts, Signer, TlogEvidence, VerifiedAttestation, VerifiedSignature } from '../verify/types.js';
import type { VulnerabilityView } from './types.js';

/**
 * The values a condition sees, built from evidence as the schema in cel-schema.ts declares them: integers
 * as CEL ints, times as CEL timestamps, optional fields absent when unknown. Predicates are passed as the
 * parsed JSON they are (numbers are CEL doubles), converted lazily as an expression reads them.
 */
export interface ImageContext {
  /** `<upstream>/<repository>`. */
  repository: string;
  /** The tag the client asked for; empty for a pull by digest. */
  tag: string;
  now: Date;
  /** The rule's judged vulnerabilities (rules with a `vulnerabilities` block). */
  vulnerabilities?: VulnerabilityView;
}

type Bindings = Record<string, CelInput>;

export function ruleBindings(evidence: Evidence, image: ImageFacts, ctx: ImageContext): Bindings {
  return {
    image: imageValue(image),
    repository: ctx.repository,
    tag: ctx.tag,
    digest: evidence.subject,
    now: timestampFromDate(ctx.now),
    signatures: evidence.signatures.map(signatureValue),
    attestations: evidence.attestations.map(attestationValue),
    vulnerabilities: vulnerabilitiesValue(ctx.vulnerabilities),
  };
}

function vulnerabilitiesValue(v: VulnerabilityView | undefined): CelInput {
  const out: Record<string, CelInput> = {
    scanner: v?.scanner ?? '',
    findings: (v?.findings ?? []).map((f) => {
      const finding: Record<string, CelInput> = { id: f.id, aliases: f.aliases, package: f.package, installedVersion: f.installedVersion, severity: f.severity };
      if (f.fixedVersion !== undefined) finding.fixedVersion = f.fixedVersion;
      if (f.cvss !== undefined) finding.cvss = f.cvss;
      const published = time(f.publishedDate);
      if (published) finding.publishedDate = published;
      return finding;
    }),
    suppressed: (v?.suppressed ?? []).map((s) => ({ id: s.id, by: s.by })),
  };
  const at = time(v?.scanTime ?? undefined);
  if (at) out.scanTime = at;
  return out;
}

/** The rule's bindings plus one attestation's `predicate` and `statement`. */
export function attestationBindings(base: Bindings, a: VerifiedAttestation): Bindings {
  const predicate = (a.predicate ?? null) as CelInput;
  return {
    ...base,
    predicate,
    statement: { _type: a.statement?.type ?? '', subject: (a.statement?.subject ?? []) as CelInput, predicateType: a.predicateType, predicate },
  };
}

function imageValue(f: ImageFacts): CelInput {
  const image: Record<string, CelInput> = {
    mediaType: f.mediaType,
    annotations: f.annotations,
    layers: f.layers.map((l) => ({ mediaType: l.mediaType, size: BigInt(l.size), digest: l.digest })),
    config: (f.config ?? {}) as unknown as CelInput,
    platform: f.platform ?? { os: '', architecture: '', variant: '' },
  };
  const created = time(f.created);
  if (created) image.created = created;
  return image;
}

function signatureValue(s: VerifiedSignature): CelInput {
  return { source: s.source, artifact: s.artifactDigest, signer: signerValue(s.signer), ...logged(s.tlog) };
}

function attestationValue(a: VerifiedAttestation): CelInput {
  return {
    predicateType: a.predicateType,
    source: a.source,
    artifact: a.artifactDigest,
    statementDigest: a.statementDigest,
    signer: signerValue(a.signer),
    ...(a.predicate !== undefined && { predicate: a.predicate as CelInput }),
    ...logged(a.tlog),
  };
}

function signerValue(s: Signer): CelInput {
  if (s.type === 'key') return { type: 'key', key: s.key, issuer: '', subject: '' };
  // A Notation signer's subject is its leaf DN; it has no OIDC issuer.
  if (s.type === 'notation') return { type: 'notation', key: '', issuer: '', subject: s.subject };
  return { type: 'keyless', key: '', issuer: s.issuer ?? '', subject: s.subject };
}

function logged(tlog: TlogEvidence | undefined): Record<string, CelInput> {
  const at = time(tlog?.integratedTime);
  return tlog && at ? { integratedTime: at, logIndex: BigInt(tlog.logIndex) } : {};
}

function time(iso: string | undefined): CelInput | undefined {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(t) ? undefined : timestampFromDate(new Date(t));
}
