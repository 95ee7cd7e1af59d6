import { X509Certificate } from 'node:crypto';
import { Certificate, ContentInfo, SignedData, TSTInfo } from 'pkijs';
import type { NotationTrust } from './trust-store.js';

const SIGNED_DATA = '1.2.840.113549.1.7.2';
const TST_INFO = '1.2.840.113549.1.9.16.1.4';
const TIME_STAMPING = '1.3.6.1.5.5.7.3.8';

/** The `tsa:` stores an RFC 3161 countersignature over the signature verified under, and the time it vouches for. */
export interface TimestampResult {
  stores: string[];
  time: Date;
  why: string;
}

/**
 * Checks the envelope's RFC 3161 countersignature (`io.cncf.notary.timestampSignature`) with `pkijs`: a
 * TimeStampToken whose message imprint is the hash of the signature value, signed by a certificate with the
 * time-stamping usage that chains, at the stamped time, to a `tsa` store. Never throws: `why` says what failed.
 */
export async function verifyTimestamp(token: Buffer, signature: Buffer, trust: NotationTrust): Promise<TimestampResult> {
  const none = (why: string): TimestampResult => ({ stores: [], time: new Date(0), why });
  const tsaStores = trust.stores.filter((s) => s.type === 'tsa');
  if (tsaStores.length === 0) return none('no "tsa" Notation trust store is configured');
  let signed: SignedData;
  let info: TSTInfo;
  try {
    const content = ContentInfo.fromBER(new Uint8Array(token));
    if (content.contentType !== SIGNED_DATA) return none('the countersignature is not a CMS SignedData');
    signed = new SignedData({ schema: content.content });
    const encap = signed.encapContentInfo;
    if (encap.eContentType !== TST_INFO || !encap.eContent) return none('the countersignature does not hold a TSTInfo');
    info = TSTInfo.fromBER(encap.eContent.getValue());
  } catch (err) {
    return none(`the countersignature is not an RFC 3161 timestamp token: ${(err as Error).message}`);
  }
  const time = info.genTime;
  try {
    if (!(await info.verify({ data: new Uint8Array(signature).buffer }))) return none('the timestamp is not over this signature');
  } catch (err) {
    return none(`the timestamp's message imprint cannot be checked: ${(err as Error).message}`);
  }
  const stores: string[] = [];
  const why: string[] = [];
  for (const store of tsaStores) {
    try {
      const result = await signed.verify({
        signer: 0,
        // For a TSTInfo, pkijs takes `data` as what was stamped and checks the message imprint against it again.
        data: new Uint8Array(signature).buffer,
        trustedCerts: store.certificates.map((c) => Certificate.fromBER(new Uint8Array(c.raw))),
        checkChain: true,
        checkDate: time,
        extendedMode: true,
      });
      const signer = result.signerCertificate ? new X509Certificate(Buffer.from(result.signerCertificate.toSchema().toBER())) : undefined;
      if (!result.signatureVerified || !result.signerCertificateVerified) why.push(`${store.id}: ${result.message}`);
      else if (!signer?.keyUsage?.includes(TIME_STAMPING)) why.push(`${store.id}: the timestamp signer lacks the time-stamping usage`);
      else stores.push(store.id);
    } catch (err) {
      why.push(`${store.id}: ${(err as Error).message}`);
    }
  }
  return { stores, time, why: stores.length ? '' : `the timestamp does not verify under a tsa store (${why.join('; ')})` };
}
