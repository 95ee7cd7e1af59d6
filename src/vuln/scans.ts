import { satisfiesAny } from '../policy/signer-match.js';
import type { SignatureRequirement } from '../policy/types.js';
import type { VerifiedAttestation } from '../verify/types.js';
import type { ScanFacts, VexFacts } from './report/types.js';

export interface SignedScan {
  att: VerifiedAttestation;
  scan: ScanFacts;
  /** When the scan was made: the log's or a timestamp authority's time when there is one, else the predicate's word. */
  time?: Date;
  timeSource?: 'tlog' | 'timestamp' | 'predicate';
}

export function scansOf(attestations: readonly VerifiedAttestation[]): SignedScan[] {
  const out: SignedScan[] = [];
  for (const att of attestations) {
    if (!att.report || !('scan' in att.report)) continue;
    const scan = att.report.scan;
    const [time, timeSource] = att.tlog
      ? [att.tlog.integratedTime, 'tlog' as const]
      : att.timestamp
        ? [att.timestamp, 'timestamp' as const]
        : [scan.scanFinishedOn, 'predicate' as const];
    out.push(time ? { att, scan, time: new Date(time), timeSource } : { att, scan });
  }
  return out;
}

export function vexOf(attestations: readonly VerifiedAttestation[]): Array<{ att: VerifiedAttestation; vex: VexFacts }> {
  return attestations.flatMap((att) => (att.report && 'vex' in att.report ? [{ att, vex: att.report.vex }] : []));
}

/** The newest scan of each scanner among those signed by a trusted signer. */
export function newestPerScanner(scans: readonly SignedScan[], signedBy: readonly SignatureRequirement[]): SignedScan[] {
  const newest = new Map<string, SignedScan>();
  for (const s of scans) {
    if (!satisfiesAny(signedBy, s.att)) continue;
    const prev = newest.get(s.scan.scanner.name);
    if (!prev || (s.time?.getTime() ?? -Infinity) > (prev.time?.getTime() ?? -Infinity)) newest.set(s.scan.scanner.name, s);
  }
  return [...newest.values()].sort((a, b) => (b.time?.getTime() ?? 0) - (a.time?.getTime() ?? 0));
}
