import { readFileSync } from 'node:fs';
import { knownRoots } from '../config/load.js';
import type { Config } from '../config/types.js';
import { checkPolicy, rulesOf, type PolicyCheck } from '../policy/policy-check.js';
import type { RuleError } from '../policy/validate.js';
import { UsageError } from './command.js';

/**
 * A policy file checked as the admin API checks a PUT, against the config's keys, roots and upstreams.
 * FILE holds JSON: an array of rules, or an object with a `policies` array (so a config file works too).
 */
export function checkPolicyFile(file: string, config: Config): PolicyCheck {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return checkPolicy(rulesOf(parsed), {
    knownKeys: new Set(Object.keys(config.trust.keys)),
    knownRoots: knownRoots(config.trust),
    upstreams: new Set(config.upstreams.map((u) => u.name)),
  });
}

/** `  policies[2].match: message` lines, for stderr. */
export function describeProblems(kind: 'error' | 'warning', problems: readonly RuleError[]): string {
  return problems.map((p) => `${kind}: ${p.path}: ${p.message}\n`).join('');
}
