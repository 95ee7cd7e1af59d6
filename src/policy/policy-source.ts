import type { PolicyRule } from './types.js';

/** The policy in force: its version and its rules. */
export interface ActivePolicy {
  version: number;
  rules: readonly PolicyRule[];
}

/** Where the policy in force is read from (the stored policy versions by default). */
export interface PolicySource {
  current(): ActivePolicy;
}
