import { compileCondition } from './cel-program.js';
import type { ConditionKind } from './cel-schema.js';
import { didYouMean } from '../text/did-you-mean.js';

type Err = (path: string, message: string) => void;
type Requirements = (list: unknown, at: string, err: Err) => void;

const ENTRY_KEYS = ['name', 'predicateType', 'signedBy', 'condition'];

/** A rule's `attestations` list: named entries with a predicate type, signers and an optional condition. */
export function validateAttestations(list: unknown, at: string, err: Err, requirements: Requirements): void {
  if (!Array.isArray(list) || list.length === 0) return err(at, 'must be a non-empty array of attestation requirements');
  const names = new Set<string>();
  list.forEach((entry, i) => {
    const p = `${at}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return err(p, 'must be an object');
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!ENTRY_KEYS.includes(k)) err(`${p}.${k}`, `unknown field${didYouMean(k, ENTRY_KEYS, (a) => `${p}.${a}`)}`);
    if (typeof e.name !== 'string' || !e.name.trim()) err(`${p}.name`, 'must be a non-empty string');
    else if (names.has(e.name)) err(`${p}.name`, `duplicate attestation name "${e.name}"`);
    else names.add(e.name);
    if (typeof e.predicateType !== 'string' || !e.predicateType.trim()) err(`${p}.predicateType`, 'must be a predicate type URI');
    const signedBy = e.signedBy;
    if (typeof signedBy !== 'object' || signedBy === null || Array.isArray(signedBy)) err(`${p}.signedBy`, 'must be an object with anyOf');
    else {
      for (const k of Object.keys(signedBy)) if (k !== 'anyOf') err(`${p}.signedBy.${k}`, 'unknown field');
      requirements((signedBy as Record<string, unknown>).anyOf, `${p}.signedBy.anyOf`, err);
    }
    if (e.condition !== undefined) validateCondition(e.condition, 'attestation', `${p}.condition`, err);
  });
}

/** A CEL condition: parsed, size-limited and type-checked against the variables of its kind. */
export function validateCondition(source: unknown, kind: ConditionKind, at: string, err: Err): void {
  if (typeof source !== 'string') return err(at, 'must be a CEL expression string');
  const compiled = compileCondition(source, kind);
  if (compiled.error) err(at, compiled.error);
}
