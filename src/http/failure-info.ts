import type { OciError } from '../oci/errors.js';

/** Why a request failed, kept in `res.locals.failure` for the request log line. */
export interface FailureInfo {
  code: string;
  error: string;
  /** The policy rule that denied it, when a rule did. */
  rule?: string | null;
  reasons?: string[];
}

export function failureOf(err: OciError): FailureInfo {
  const detail = err.detail as { policy?: unknown; reasons?: unknown } | undefined;
  const reasons = Array.isArray(detail?.reasons) ? detail.reasons.filter((r): r is string => typeof r === 'string').map(withoutCredentials) : undefined;
  return {
    code: err.code,
    error: withoutCredentials(err.message),
    ...(detail && 'policy' in detail ? { rule: typeof detail.policy === 'string' ? detail.policy : null } : {}),
    ...(reasons ? { reasons } : {}),
  };
}

/** The headers that say why, for HEAD (no body) and GET alike: the first reason, and the rule if one decided. */
export function failureHeaders(f: FailureInfo): Record<string, string> {
  return {
    'X-Portcullis-Reason': headerText(f.reasons?.[0] ?? f.error),
    ...(f.rule ? { 'X-Portcullis-Rule': headerText(f.rule) } : {}),
  };
}

const MAX_HEADER_TEXT = 512;

/** One line of visible ASCII (any run of anything else becomes one space), at most 512 characters. */
export function headerText(text: string): string {
  const line = text.replace(/[^\x21-\x7e]+/g, ' ').trim();
  return line.length > MAX_HEADER_TEXT ? `${line.slice(0, MAX_HEADER_TEXT - 3)}...` : line;
}

/** Upstream messages may quote URLs or auth headers: user:password in URLs and credentials after a scheme go. */
export function withoutCredentials(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [redacted]');
}
