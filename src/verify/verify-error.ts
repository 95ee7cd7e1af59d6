/**
 * Coded verification failures. Every rejected artifact carries `<CODE>: <message>` so the audit log tells
 * "bad signature" apart from "wrong image" and "untrusted log" (never collapsed into `false`).
 */
export type RejectCode =
  | 'SIGNATURE_INVALID'
  | 'DIGEST_MISMATCH'
  | 'UNTRUSTED_KEY'
  | 'UNTRUSTED_TLOG'
  | 'TLOG_BODY_MISMATCH'
  | 'CERT_CHAIN'
  | 'SCT'
  | 'TIMESTAMP'
  | 'MALFORMED'
  | 'UNSUPPORTED'
  | 'TOO_LARGE'
  | 'INTERNAL';

export class VerifyFailure extends Error {
  constructor(
    readonly code: RejectCode,
    message: string,
  ) {
    super(message);
  }

  get reason(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** sigstore-js error codes → ours. */
const SIGSTORE_CODES: Record<string, RejectCode> = {
  SIGNATURE_ERROR: 'SIGNATURE_INVALID',
  TLOG_INCLUSION_PROMISE_ERROR: 'UNTRUSTED_TLOG',
  TLOG_INCLUSION_PROOF_ERROR: 'UNTRUSTED_TLOG',
  TLOG_MISSING_INCLUSION_ERROR: 'UNTRUSTED_TLOG',
  TLOG_ERROR: 'UNTRUSTED_TLOG',
  TLOG_BODY_ERROR: 'TLOG_BODY_MISMATCH',
  CERTIFICATE_ERROR: 'CERT_CHAIN',
  PUBLIC_KEY_ERROR: 'UNTRUSTED_KEY',
  TIMESTAMP_ERROR: 'TIMESTAMP',
  NOT_IMPLEMENTED_ERROR: 'UNSUPPORTED',
};

/** Turns anything thrown while verifying one artifact into a reason string; never rethrows. */
export function toReason(err: unknown): string {
  if (err instanceof VerifyFailure) return err.reason;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && SIGSTORE_CODES[code]) {
      let code2 = SIGSTORE_CODES[code]!;
      if (code2 === 'CERT_CHAIN' && /SCT/.test(err.message)) code2 = 'SCT';
      const cause = (err as { cause?: unknown }).cause;
      const detail = cause instanceof Error ? ` (${cause.message})` : '';
      return `${code2}: ${clip(err.message + detail)}`;
    }
    if (err.name === 'ValidationError') return `MALFORMED: ${clip(err.message)}`;
    // A crash inside the verification library (e.g. TypeError on odd input) is a rejection, not an outage.
    return `INTERNAL: ${clip(`${err.name}: ${err.message}`)}`;
  }
  return `INTERNAL: ${clip(String(err))}`;
}

export function clip(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
