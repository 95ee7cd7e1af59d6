import type { PolicyRule } from './types.js';
import { validatePolicyRules, type RuleError } from './validate.js';
import { policyWarnings } from './policy-warnings.js';

/** What a policy is checked against: the config's key and root names, and its upstream names. */
export interface PolicyContext {
  knownKeys: ReadonlySet<string>;
  knownRoots?: ReadonlySet<string>;
  upstreams: ReadonlySet<string>;
}

export interface PolicyCheck {
  /** Present only when there are no errors. */
  rules?: PolicyRule[];
  errors: RuleError[];
  /** For valid rules only: what they do that was probably not meant. */
  warnings: RuleError[];
}

/** The checks the admin API and the CLI make before a policy is stored (errors refuse it, warnings do not). */
export function checkPolicy(rules: unknown, ctx: PolicyContext): PolicyCheck {
  const checked = validatePolicyRules(rules, ctx.knownKeys, ctx.knownRoots);
  return { ...checked, warnings: checked.rules ? policyWarnings(checked.rules, ctx.upstreams) : [] };
}

/** The rules of a request body or file: `[...]` or `{"policies": [...]}`. */
export function rulesOf(body: unknown): unknown {
  if (Array.isArray(body)) return body;
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>).policies : undefined;
}

export const MAX_COMMENT_LENGTH = 1000;

/** Why a change's comment is unacceptable, or undefined when it is fine (absent is fine). */
export function commentError(comment: unknown): string | undefined {
  if (comment === undefined) return undefined;
  if (typeof comment !== 'string') return 'must be a string';
  if (comment.length > MAX_COMMENT_LENGTH) return `must be at most ${MAX_COMMENT_LENGTH} characters (it has ${comment.length})`;
  return undefined;
}
