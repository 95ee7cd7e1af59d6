/**
 * The types a policy condition is checked against: the declared variables of rule and attestation
 * conditions. Records are CEL maps at run time whose keys are known here, so `image.confg` is an error when
 * the policy is loaded, not a deny at pull time. Fields marked optional are absent when unknown: read them
 * behind `has()`.
 */
export type CelT =
  | { k: 'dyn' }
  | { k: 'bool' }
  | { k: 'int' }
  | { k: 'uint' }
  | { k: 'double' }
  | { k: 'string' }
  | { k: 'bytes' }
  | { k: 'null' }
  | { k: 'type' }
  | { k: 'timestamp' }
  | { k: 'duration' }
  | { k: 'list'; elem: CelT }
  | { k: 'map'; key: CelT; value: CelT }
  | { k: 'record'; name: string; fields: Readonly<Record<string, CelT>>; optional?: readonly string[] };

export const DYN: CelT = { k: 'dyn' };
export const BOOL: CelT = { k: 'bool' };
export const INT: CelT = { k: 'int' };
export const UINT: CelT = { k: 'uint' };
export const DOUBLE: CelT = { k: 'double' };
export const STRING: CelT = { k: 'string' };
export const BYTES: CelT = { k: 'bytes' };
export const NULL: CelT = { k: 'null' };
export const TYPE: CelT = { k: 'type' };
export const TIMESTAMP: CelT = { k: 'timestamp' };
export const DURATION: CelT = { k: 'duration' };
export const list = (elem: CelT): CelT => ({ k: 'list', elem });
export const map = (key: CelT, value: CelT): CelT => ({ k: 'map', key, value });
const record = (name: string, fields: Record<string, CelT>, optional: string[] = []): CelT => ({ k: 'record', name, fields, optional });

const SIGNER = record('signer', { type: STRING, key: STRING, issuer: STRING, subject: STRING });
const LOGGED = { integratedTime: TIMESTAMP, logIndex: INT };

const SIGNATURE = record('signature', { source: STRING, artifact: STRING, signer: SIGNER, ...LOGGED }, ['integratedTime', 'logIndex']);

const ATTESTATION = record(
  'attestation',
  { predicateType: STRING, source: STRING, artifact: STRING, statementDigest: STRING, signer: SIGNER, predicate: DYN, ...LOGGED },
  ['predicate', 'integratedTime', 'logIndex'],
);

const CONFIG = record('image.config', {
  User: STRING,
  ExposedPorts: map(STRING, DYN),
  Env: list(STRING),
  Entrypoint: list(STRING),
  Cmd: list(STRING),
  Labels: map(STRING, STRING),
  WorkingDir: STRING,
  Volumes: map(STRING, DYN),
  StopSignal: STRING,
});

const IMAGE = record(
  'image',
  {
    mediaType: STRING,
    annotations: map(STRING, STRING),
    layers: list(record('layer', { mediaType: STRING, size: INT, digest: STRING })),
    config: CONFIG,
    created: TIMESTAMP,
    platform: record('image.platform', { os: STRING, architecture: STRING, variant: STRING }),
  },
  ['created'],
);

const STATEMENT = record('statement', { _type: STRING, subject: list(DYN), predicateType: STRING, predicate: DYN });

const FINDING = record(
  'finding',
  { id: STRING, aliases: list(STRING), package: STRING, installedVersion: STRING, fixedVersion: STRING, severity: STRING, cvss: DOUBLE, publishedDate: TIMESTAMP },
  ['fixedVersion', 'cvss', 'publishedDate'],
);
const VULNERABILITIES = record(
  'vulnerabilities',
  { scanTime: TIMESTAMP, scanner: STRING, findings: list(FINDING), suppressed: list(record('suppressed', { id: STRING, by: STRING })) },
  ['scanTime'],
);

/** Variables of a rule's `condition`. */
export const RULE_VARIABLES: Readonly<Record<string, CelT>> = {
  vulnerabilities: VULNERABILITIES,
  image: IMAGE,
  repository: STRING,
  tag: STRING,
  digest: STRING,
  now: TIMESTAMP,
  signatures: list(SIGNATURE),
  attestations: list(ATTESTATION),
};

/** Variables of an attestation entry's `condition`: the rule's, plus the attestation's statement. */
export const ATTESTATION_VARIABLES: Readonly<Record<string, CelT>> = { ...RULE_VARIABLES, predicate: DYN, statement: STATEMENT };

export type ConditionKind = 'rule' | 'attestation';

export function variablesOf(kind: ConditionKind): Readonly<Record<string, CelT>> {
  return kind === 'rule' ? RULE_VARIABLES : ATTESTATION_VARIABLES;
}

export function typeName(t: CelT): string {
  switch (t.k) {
    case 'list':
      return `list(${typeName(t.elem)})`;
    case 'map':
      return `map(${typeName(t.key)}, ${typeName(t.value)})`;
    case 'record':
      return t.name;
    case 'null':
      return 'null_type';
    case 'timestamp':
      return 'google.protobuf.Timestamp';
    case 'duration':
      return 'google.protobuf.Duration';
    default:
      return t.k;
  }
}
