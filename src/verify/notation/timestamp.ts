import type { X509Certificate } from 'node:crypto';
import type { NotationTrust } from './trust-store.js';

/** The `tsa:` stores an RFC 3161 countersignature over the signature verified under, and the time it vouches for. */
export interface TimestampResult {
  stores: string[];
  time: Date;
  why: string;
}

/** RFC 3161 countersignatures are not verified yet: a certificate outside its validity is refused. */
export async function verifyTimestamp(_token: Buffer, _signature: Buffer, _trust: NotationTrust, _chain: readonly X509Certificate[]): Promise<TimestampResult> {
  return { stores: [], time: new Date(0), why: 'RFC 3161 countersignatures are not verified' };
}
