import type { PolicyRule } from './types.js';
import { regExpError } from './identity-match.js';
import { globError } from './match.js';
import { validateAttestations, validateCondition } from './validate-conditions.js';
import { validateVulnerabilities } from './validate-vulnerabilities.js';
import { FULCIO_EXTENSION_NAMES } from '../verify/fulcio-extensions.js';
import { DEFAULT_ROOT } from '../verify/types.js';
import { didYouMean } from '../text/did-you-mean.js';
import { validateNotationRequirement } from './notation-rule.js';

export interface RuleError {
  path: string;
  message: string;
}

const MODES = ['enforce', 'warn', 'allow', 'deny'];
const RULE_KEYS = ['name', 'match', 'mode', 'signatures', 'provenance', 'attestations', 'condition', 'maxAgeDays', 'baseImage', 'vulnerabilities'];
const IDENTITY_STRINGS = ['root', 'issuer', 'issuerRegExp', 'subject', 'subjectRegExp'];
const IDENTITY_KEYS = [...IDENTITY_STRINGS, 'extensions', 'extensionsRegExp'];
const PROVENANCE_KEYS = ['signedBy', 'builderId', 'builderIdRegExp', 'sourceRepository', 'sourceRepositoryRegExp', 'sourceBranch', 'sourceBranchRegExp'];

/**
 * Validates policy rules as plain data, reporting every problem with its path (e.g.
 * `policies[2].signatures.anyOf[0].keyless.subjectRegExp`). Returns the rules only when there are no errors.
 * The config loader and the admin API both use it, so a rule that loads is a rule that evaluates.
 */
export function validatePolicyRules(
  rules: unknown,
  knownKeys: ReadonlySet<string> = new Set(),
  knownRoots: ReadonlySet<string> = new Set([DEFAULT_ROOT]),
): { rules?: PolicyRule[]; errors: RuleError[] } {
  const known: KnownNames = { keys: knownKeys, roots: knownRoots };
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
      else {
        const bad = globError(g);
        if (bad) err(`${at}.match[${j}]`, bad);
      }
    });
    if (!MODES.includes(rule.mode as string)) err(`${at}.mode`, `must be one of ${MODES.join(', ')}`);
    if (rule.signatures !== undefined) {
      if (!isObject(rule.signatures)) err(`${at}.signatures`, 'must be an object with anyOf');
      else {
        unknownKeys(rule.signatures, ['anyOf'], `${at}.signatures`, err);
        requirements(rule.signatures.anyOf, `${at}.signatures.anyOf`, known, err);
      }
    }
    if (rule.provenance !== undefined) provenance(rule.provenance, `${at}.provenance`, known, err);
    if (rule.attestations !== undefined) validateAttestations(rule.attestations, `${at}.attestations`, err, (l, p, e) => requirements(l, p, known, e));
    if (rule.condition !== undefined) validateCondition(rule.condition, 'rule', `${at}.condition`, err);
    if (rule.maxAgeDays !== undefined && (typeof rule.maxAgeDays !== 'number' || !Number.isFinite(rule.maxAgeDays) || rule.maxAgeDays <= 0)) {
      err(`${at}.maxAgeDays`, 'must be a positive number of days');
    }
    if (rule.baseImage !== undefined) baseImage(rule.baseImage, `${at}.baseImage`, err);
    if (typeof rule.condition === 'string' && /\bvulnerabilities\b/.test(rule.condition) && rule.vulnerabilities === undefined) {
      err(`${at}.condition`, 'reads vulnerabilities, which only a rule with a vulnerabilities block has (its scans.signedBy says which scans count)');
    }
    if (rule.vulnerabilities !== undefined) {
      validateVulnerabilities(rule.vulnerabilities, `${at}.vulnerabilities`, err, (l, p, e) => requirements(l, p, known, e));
    }
    const requires = ['signatures', 'provenance', 'attestations', 'condition', 'maxAgeDays', 'baseImage', 'vulnerabilities'];
    if ((rule.mode === 'enforce' || rule.mode === 'warn') && requires.every((k) => rule[k] === undefined)) {
      err(at, `mode "${rule.mode}" needs at least one of ${requires.join(', ')}`);
    }
  });
  return errors.length ? { errors } : { rules: rules as PolicyRule[], errors };
}

type Err = (path: string, message: string) => void;
interface KnownNames {
  keys: ReadonlySet<string>;
  roots: ReadonlySet<string>;
}

function requirements(list: unknown, at: string, known: KnownNames, err: Err): void {
  if (!Array.isArray(list) || list.length === 0) return err(at, 'must be a non-empty array');
  list.forEach((req, j) => {
    const p = `${at}[${j}]`;
    if (!isObject(req)) return err(p, 'must be an object with "key", "keyless" or "notation"');
    if ('notation' in req && !('key' in req) && !('keyless' in req)) return validateNotationRequirement(req, p, err);
    const hasKey = 'key' in req;
    const hasKeyless = 'keyless' in req;
    if (hasKey === hasKeyless) return err(p, 'must have exactly one of "key", "keyless" or "notation"');
    if (hasKey) {
      unknownKeys(req, ['key', 'tlog'], p, err);
      if (typeof req.key !== 'string' || !req.key) err(`${p}.key`, 'must be a key name');
      else if (!known.keys.has(req.key)) err(`${p}.key`, `unknown key "${req.key}" (not in trust.keys)`);
      if (req.tlog !== undefined && req.tlog !== 'required' && req.tlog !== 'optional') err(`${p}.tlog`, 'must be "required" or "optional"');
      return;
    }
    const id = req.keyless;
    unknownKeys(req, ['keyless'], p, err);
    if (!isObject(id)) return err(`${p}.keyless`, 'must be an object');
    unknownKeys(id, IDENTITY_KEYS, `${p}.keyless`, err);
    for (const k of IDENTITY_STRINGS) {
      if (id[k] !== undefined && (typeof id[k] !== 'string' || !id[k])) err(`${p}.keyless.${k}`, 'must be a non-empty string');
    }
    if (typeof id.root === 'string' && id.root && !known.roots.has(id.root)) {
      err(`${p}.keyless.root`, `unknown root "${id.root}" (not "${DEFAULT_ROOT}" or in trust.roots)`);
    }
    if (id.subject === undefined && id.subjectRegExp === undefined) err(`${p}.keyless`, 'needs subject or subjectRegExp');
    for (const k of ['issuerRegExp', 'subjectRegExp']) regexp(id[k], `${p}.keyless.${k}`, err);
    extensions(id.extensions, `${p}.keyless.extensions`, false, err);
    extensions(id.extensionsRegExp, `${p}.keyless.extensionsRegExp`, true, err);
  });
}

/** Names as sigstore-go gives Fulcio's extensions; values non-empty strings, or whole-string patterns. */
function extensions(value: unknown, at: string, patterns: boolean, err: Err): void {
  if (value === undefined) return;
  if (!isObject(value) || Object.keys(value).length === 0) return err(at, 'must be an object of extension names to values');
  for (const [name, v] of Object.entries(value)) {
    const p = `${at}.${name}`;
    if (name === 'issuer') err(p, 'the issuer is matched by keyless.issuer / issuerRegExp');
    else if (!FULCIO_EXTENSION_NAMES.includes(name)) err(p, `unknown certificate extension (known: ${FULCIO_EXTENSION_NAMES.join(', ')})`);
    else if (typeof v !== 'string' || !v) err(p, 'must be a non-empty string');
    else if (patterns) regexp(v, p, err);
  }
}

function provenance(prov: unknown, at: string, known: KnownNames, err: Err): void {
  if (!isObject(prov)) return err(at, 'must be an object');
  unknownKeys(prov, PROVENANCE_KEYS, at, err);
  if (!isObject(prov.signedBy)) err(`${at}.signedBy`, 'must be an object with anyOf');
  else {
    unknownKeys(prov.signedBy, ['anyOf'], `${at}.signedBy`, err);
    requirements(prov.signedBy.anyOf, `${at}.signedBy.anyOf`, known, err);
  }
  for (const k of PROVENANCE_KEYS.slice(1)) {
    if (prov[k] !== undefined && (typeof prov[k] !== 'string' || !prov[k])) err(`${at}.${k}`, 'must be a non-empty string');
    else if (k.endsWith('RegExp')) regexp(prov[k], `${at}.${k}`, err);
  }
}

function baseImage(value: unknown, at: string, err: Err): void {
  if (!isObject(value)) return err(at, 'must be an object with maxBehindDays');
  unknownKeys(value, ['maxBehindDays', 'requireAnnotation'], at, err);
  const days = value.maxBehindDays;
  if (typeof days !== 'number' || !Number.isFinite(days) || days < 0) err(`${at}.maxBehindDays`, 'must be a number of days (0 or more)');
  if (value.requireAnnotation !== undefined && typeof value.requireAnnotation !== 'boolean') err(`${at}.requireAnnotation`, 'must be true or false');
}

function regexp(value: unknown, path: string, err: Err): void {
  if (typeof value !== 'string' || !value) return;
  const problem = regExpError(value);
  if (problem) err(path, `invalid regular expression: ${problem}`);
}

function unknownKeys(obj: Record<string, unknown>, allowed: string[], at: string, err: Err): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) err(`${at}.${k}`, `unknown field${didYouMean(k, allowed, (a) => `${at}.${a}`)}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
