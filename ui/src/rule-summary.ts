/**
 * A policy rule in words, one line per requirement, for reading beside its JSON. It describes only fields
 * it knows; the JSON stays the authority, so an unknown field is named rather than silently left out.
 */
type Json = Record<string, unknown>;

const KNOWN = new Set(['name', 'match', 'mode', 'signatures', 'provenance', 'attestations', 'condition', 'maxAgeDays', 'baseImage']);

const MODES: Record<string, string> = {
  enforce: 'served only if every requirement holds; denied otherwise',
  warn: 'served even if a requirement fails, with a warning in the audit log',
  allow: 'served without checks',
  deny: 'always denied',
};

export function ruleSummary(rule: Json): string[] {
  const lines: string[] = [];
  const match = Array.isArray(rule.match) ? rule.match.map(String) : [];
  const mode = String(rule.mode ?? '');
  lines.push(`${match.join(', ') || '(no pattern)'} — ${MODES[mode] ?? `mode ${mode}`}`);
  if (mode === 'allow' || mode === 'deny') return [...lines, ...unknownFields(rule)];
  const signatures = anyOf(rule.signatures);
  if (signatures) lines.push(`Signature: ${signatures}`);
  if (isObject(rule.provenance)) lines.push(`Provenance: ${provenance(rule.provenance)}`);
  if (Array.isArray(rule.attestations)) {
    for (const a of rule.attestations.filter(isObject)) {
      const signedBy = anyOf(a.signedBy);
      lines.push(`Attestation "${String(a.name)}": ${String(a.predicateType)}${signedBy ? ` by ${signedBy}` : ''}${a.condition ? `, where ${String(a.condition)}` : ''}`);
    }
  }
  if (typeof rule.condition === 'string') lines.push(`Condition: ${rule.condition}`);
  if (typeof rule.maxAgeDays === 'number') lines.push(`Age: built at most ${rule.maxAgeDays} day(s) ago`);
  if (isObject(rule.baseImage)) {
    const b = rule.baseImage;
    lines.push(`Base image: rebuilt within ${String(b.maxBehindDays)} day(s) of its base moving${b.requireAnnotation ? '; the image must name its base' : ''}`);
  }
  if (lines.length === 1) lines.push('No requirement beyond the match');
  return [...lines, ...unknownFields(rule)];
}

/** `a or b` over signature requirements; undefined when there are none. */
function anyOf(value: unknown): string | undefined {
  const list = isObject(value) && Array.isArray(value.anyOf) ? value.anyOf.filter(isObject) : [];
  return list.length ? list.map(signer).join(' or ') : undefined;
}

function signer(s: Json): string {
  if (isObject(s.notation)) {
    const n = s.notation;
    const list = (v: unknown) => (Array.isArray(v) ? v.map(String).join(', ') : '');
    return `Notation signature by ${list(n.trustedIdentities)} (trust stores ${list(n.trustStores)}${Array.isArray(n.tsa) ? `; timestamps from ${list(n.tsa)}` : ''})`;
  }
  if (typeof s.key === 'string') return `key "${s.key}"${s.tlog === 'required' ? ' with a transparency-log entry' : ''}`;
  const k = isObject(s.keyless) ? s.keyless : {};
  const parts = [
    'keyless signature by',
    exactOrPattern(k.subject, k.subjectRegExp, 'any subject'),
    'issued by',
    exactOrPattern(k.issuer, k.issuerRegExp, 'any issuer'),
  ];
  if (typeof k.root === 'string') parts.push(`(root "${k.root}")`);
  const ext = [
    ...Object.entries(isObject(k.extensions) ? k.extensions : {}).map(([n, v]) => `${n} = ${String(v)}`),
    ...Object.entries(isObject(k.extensionsRegExp) ? k.extensionsRegExp : {}).map(([n, v]) => `${n} matching /${String(v)}/`),
  ];
  if (ext.length) parts.push(`with ${ext.join(', ')}`);
  return parts.join(' ');
}

function provenance(p: Json): string {
  const parts = [`SLSA provenance${anyOf(p.signedBy) ? ` signed by ${anyOf(p.signedBy)}` : ''}`];
  if (p.builderId || p.builderIdRegExp) parts.push(`builder ${exactOrPattern(p.builderId, p.builderIdRegExp, '')}`);
  if (p.sourceRepository || p.sourceRepositoryRegExp) parts.push(`source ${exactOrPattern(p.sourceRepository, p.sourceRepositoryRegExp, '')}`);
  if (p.sourceBranch || p.sourceBranchRegExp) parts.push(`branch ${exactOrPattern(p.sourceBranch, p.sourceBranchRegExp, '')}`);
  return parts.join(', ');
}

function exactOrPattern(exact: unknown, pattern: unknown, otherwise: string): string {
  if (typeof exact === 'string') return exact;
  if (typeof pattern === 'string') return `/${pattern}/`;
  return otherwise;
}

function unknownFields(rule: Json): string[] {
  const unknown = Object.keys(rule).filter((k) => !KNOWN.has(k));
  return unknown.length ? [`Also: ${unknown.join(', ')} (see the JSON)`] : [];
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
