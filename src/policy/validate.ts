import type { PolicyRule } from './types.js';
import { regExpError } from './identity-match.js';
import { validateAttestations, validateCondition } from './validate-conditions.js';

export interface RuleError {
  path: string;
  message: string;
}

const MODES = ['enforce', 'warn', 'allow', 'deny'];
const RULE_KEYS = ['name', 'match', 'mode', 'signatures', 'provenance', 'attestations', 'condition', 'maxAgeDays'];
const IDENTITY_KEYS = ['issuer', 'issuerRegExp', 'subject', 'subjectRegExp'];
const PROVENANCE_KEYS = ['signedBy', 'builderId', 'builderIdRegExp', 'sourceRepository', 'sourceRepositoryRegExp', 'sourceBranch', 'sourceBranchRegExp'];

/**
 * Validates policy rules as plain data, reporting every problem with its path (e.g.
 * `policies[2].signatures.anyOf[0].keyless.subjectRegExp`). Returns the rules only when there are no errors.
 * The config loader and the admin API both use it, so a rule that loads is a rule that evaluates.
 */
export function validatePolicyRules(rules: unknown, knownKeys: ReadonlySet<string> = new Set()): { rules?: PolicyRule[]; errors: RuleError[] } {
  const errors: RuleError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (!Array.isArray(rules)) {
    err('policies', 'must be an array of rules');
    return { errors };
  }
  const names = new Set<string>();
  rules.forEach((rule, i) => {
    const at = `policies[${i}]`;
    if (!isObject(rule)) return err(at, 'must be an object');
    unknownKeys(rule, RULE_KEYS, at, err);
    if (typeof rule.name !== 'string' || !rule.name.trim()) err(`${at}.name`, 'must be a non-empty string');
    else if (names.has(rule.name)) err(`${at}.name`, `duplicate rule name "${rule.name}"`);
    else names.add(rule.name);
    if (!Array.isArray(rule.match) || rule.match.length === 0) err(`${at}.match`, 'must be a non-empty array of globs');
    else rule.match.forEach((g, j) => {
      if (typeof g !== 'string' || !g.trim()) err(`${at}.match[${j}]`, 'must be a non-empty glob string');
    });
    if (!MODES.includes(rule.mode as string)) err(`${at}.mode`, `must be one of ${MODES.join(', ')}`);
    if (rule.signatures !== undefined) {
      if (!isObject(rule.signatures)) err(`${at}.signatures`, 'must be an object with anyOf');
      else {
        unknownKeys(rule.signatures, ['anyOf'], `${at}.signatures`, err);
        requirements(rule.signatures.anyOf, `${at}.signatures.anyOf`, knownKeys, err);
      }
    }
    if (rule.provenance !== undefined) provenance(rule.provenance, `${at}.provenance`, knownKeys, err);
    if (rule.attestations !== undefined) validateAttestations(rule.attestations, `${at}.attestations`, err, (l, p, e) => requirements(l, p, knownKeys, e));
    if (rule.condition !== undefined) validateCondition(rule.condition, 'rule', `${at}.condition`, err);
    if (rule.maxAgeDays !== undefined && (typeof rule.maxAgeDays !== 'number' || !Number.isFinite(rule.maxAgeDays) || rule.maxAgeDays <= 0)) {
      err(`${at}.maxAgeDays`, 'must be a positive number of days');
    }
    const requires = ['signatures', 'provenance', 'attestations', 'condition', 'maxAgeDays'];
    if ((rule.mode === 'enforce' || rule.mode === 'warn') && requires.every((k) => rule[k] === undefined)) {
      err(at, `mode "${rule.mode}" needs at least one of ${requires.join(', ')}`);
    }
  });
  return errors.length ? { errors } : { rules: rules as PolicyRule[], errors };
}

type Err = (path: string, message: string) => void;

function requirements(list: unknown, at: string, knownKeys: ReadonlySet<string>, err: Err): void {
  if (!Array.isArray(list) || list.length === 0) return err(at, 'must be a non-empty array');
  list.forEach((req, j) => {
    const p = `${at}[${j}]`;
    if (!isObject(req)) return err(p, 'must be an object with "key" or "keyless"');
    const hasKey = 'key' in req;
    const hasKeyless = 'keyless' in req;
    if (hasKey === hasKeyless) return err(p, 'must have exactly one of "key" or "keyless"');
    if (hasKey) {
      unknownKeys(req, ['key', 'tlog'], p, err);
      if (typeof req.key !== 'string' || !req.key) err(`${p}.key`, 'must be a key name');
      else if (!knownKeys.has(req.key)) err(`${p}.key`, `unknown key "${req.key}" (not in trust.keys)`);
      if (req.tlog !== undefined && req.tlog !== 'required' && req.tlog !== 'optional') err(`${p}.tlog`, 'must be "required" or "optional"');
      return;
    }
    const id = req.keyless;
    unknownKeys(req, ['keyless'], p, err);
    if (!isObject(id)) return err(`${p}.keyless`, 'must be an object');
    unknownKeys(id, IDENTITY_KEYS, `${p}.keyless`, err);
    for (const k of IDENTITY_KEYS) {
      if (id[k] !== undefined && (typeof id[k] !== 'string' || !id[k])) err(`${p}.keyless.${k}`, 'must be a non-empty string');
    }
    if (id.issuer === undefined && id.issuerRegExp === undefined) err(`${p}.keyless`, 'needs issuer or issuerRegExp');
    if (id.subject === undefined && id.subjectRegExp === undefined) err(`${p}.keyless`, 'needs subject or subjectRegExp');
    for (const k of ['issuerRegExp', 'subjectRegExp']) regexp(id[k], `${p}.keyless.${k}`, err);
  });
}

function provenance(prov: unknown, at: string, knownKeys: ReadonlySet<string>, err: Err): void {
  if (!isObject(prov)) return err(at, 'must be an object');
  unknownKeys(prov, PROVENANCE_KEYS, at, err);
  if (!isObject(prov.signedBy)) err(`${at}.signedBy`, 'must be an object with anyOf');
  else {
    unknownKeys(prov.signedBy, ['anyOf'], `${at}.signedBy`, err);
    requirements(prov.signedBy.anyOf, `${at}.signedBy.anyOf`, knownKeys, err);
  }
  for (const k of PROVENANCE_KEYS.slice(1)) {
    if (prov[k] !== undefined && (typeof prov[k] !== 'string' || !prov[k])) err(`${at}.${k}`, 'must be a non-empty string');
    else if (k.endsWith('RegExp')) regexp(prov[k], `${at}.${k}`, err);
  }
}

function regexp(value: unknown, path: string, err: Err): void {
  if (typeof value !== 'string' || !value) return;
  const problem = regExpError(value);
  if (problem) err(path, `invalid regular expression: ${problem}`);
}

function unknownKeys(obj: Record<string, unknown>, allowed: string[], at: string, err: Err): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) err(`${at}.${k}`, 'unknown field');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
