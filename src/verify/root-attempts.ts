import type { RootInstance, TrustRoot } from './trust-material.js';
import type { RekorBundle } from './rekor-bundle.js';
import { verifySet } from './rekor-bundle.js';
import type { TlogEvidence } from './types.js';
import { clip, toReason, VerifyFailure, type RejectCode } from './verify-error.js';

export interface ChainOutcome {
  /** Every root the signature verified under, default first. */
  roots: string[];
  /** Whether a root that lists transparency logs verified it, so its log entry is evidence. */
  tlogVerified: boolean;
}

/**
 * Runs a keyless check under every configured root and records each root it passes under, so that a rule
 * naming a root needs no re-verification. A root passes when any root its file lists passes. Throws, with
 * each root's reason, when none does.
 */
export function chainedRoots(roots: readonly TrustRoot[], check: (root: RootInstance) => void): ChainOutcome {
  const out: ChainOutcome = { roots: [], tlogVerified: false };
  const failures: Array<{ name: string; errors: unknown[] }> = [];
  for (const root of roots) {
    const errors: unknown[] = [];
    for (const instance of root.instances) {
      try {
        check(instance);
      } catch (err) {
        errors.push(err);
        continue;
      }
      if (!out.roots.includes(root.name)) out.roots.push(root.name);
      if (instance.hasTlogs) out.tlogVerified = true;
    }
    if (!out.roots.includes(root.name)) failures.push({ name: root.name, errors });
  }
  if (out.roots.length > 0) return out;
  throw combined(failures);
}

/**
 * Runs a key-signature check under the first root that passes it. A signature that carries a log entry is
 * checked only under roots that list logs, so an entry that is present is genuine or the signature fails.
 */
export function underSomeRoot(roots: readonly TrustRoot[], hasTlogEntry: boolean, check: (root: RootInstance) => void): void {
  const failures: Array<{ name: string; errors: unknown[] }> = [];
  for (const root of roots) {
    const errors: unknown[] = [];
    for (const instance of root.instances) {
      if (hasTlogEntry && !instance.hasTlogs) continue;
      try {
        check(instance);
        return;
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) failures.push({ name: root.name, errors });
  }
  if (failures.length === 0) throw new VerifyFailure('UNTRUSTED_TLOG', 'no trusted root lists a transparency log');
  throw combined(failures);
}

/** A cosign Rekor bundle's SET, verified against the logs of any root that lists it. */
export function verifySetUnderRoots(rb: RekorBundle, roots: readonly TrustRoot[], now: Date): TlogEvidence {
  let tlog: TlogEvidence | undefined;
  underSomeRoot(roots, true, (root) => {
    tlog = verifySet(rb, root.material, now);
  });
  return tlog!;
}

/** One root: its own error, unchanged. Several: the first root's code, and every root's reason. */
function combined(failures: Array<{ name: string; errors: unknown[] }>): unknown {
  const all = failures.flatMap((f) => f.errors);
  if (all.length === 1) return all[0];
  const reasons = failures.map((f) => ({ name: f.name, reasons: [...new Set(f.errors.map(toReason))] }));
  const first = reasons[0]?.reasons[0] ?? 'INTERNAL: no root checked';
  const code = first.slice(0, first.indexOf(':')) as RejectCode;
  const text = reasons.map((r) => `root "${r.name}": ${r.reasons.join(' / ')}`).join('; ');
  return new VerifyFailure(code, clip(text, 600));
}
