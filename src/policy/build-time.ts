import type { Evidence, VerifiedAttestation, VerifiedSignature } from '../verify/types.js';

export interface BuildTime {
  time: Date;
  source: 'provenance' | 'config' | 'tlog';
}

/** Configs created before this are treated as unset (reproducible builds write the epoch or 0001-01-01). */
const PLAUSIBLE_AFTER = Date.UTC(2000, 0, 1);

/**
 * When the image was built, best evidence first: the trusted provenance's finish time, then the image
 * config's `created`, then the earliest log time of an accepted signature (an upper bound on build time).
 */
export function buildTime(evidence: Evidence, provenance: readonly VerifiedAttestation[], accepted: readonly VerifiedSignature[]): BuildTime | undefined {
  const finished = provenance
    .map((a) => Date.parse(a.provenance?.finishedOn ?? ''))
    .filter((t) => !Number.isNaN(t));
  if (finished.length) return { time: new Date(Math.min(...finished)), source: 'provenance' };
  const created = Date.parse(evidence.configCreated ?? '');
  if (!Number.isNaN(created) && created > PLAUSIBLE_AFTER) return { time: new Date(created), source: 'config' };
  const logged = accepted.map((s) => Date.parse(s.tlog?.integratedTime ?? '')).filter((t) => !Number.isNaN(t));
  if (logged.length) return { time: new Date(Math.min(...logged)), source: 'tlog' };
  return undefined;
}
