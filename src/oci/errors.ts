/**
 * The OCI distribution error catalogue. Domain code throws `OciError` with a code from here;
 * the HTTP layer turns it into `{"errors":[{code,message,detail}]}` with the catalogue's status.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, description: 'blob unknown to registry' },
  DIGEST_INVALID: { status: 400, description: 'provided digest did not match uploaded content' },
  MANIFEST_UNKNOWN: { status: 404, description: 'manifest unknown' },
  MANIFEST_INVALID: { status: 400, description: 'manifest invalid' },
  NAME_INVALID: { status: 400, description: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, description: 'repository name not known to registry' },
  TAG_INVALID: { status: 400, description: 'manifest tag did not match URI' },
  RANGE_INVALID: { status: 416, description: 'requested range not satisfiable' },
  UNAUTHORIZED: { status: 401, description: 'authentication required' },
  DENIED: { status: 403, description: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, description: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, description: 'too many requests' },
  SIZE_INVALID: { status: 400, description: 'provided length did not match content length' },
  SCOPE_INVALID: { status: 400, description: 'the requested token scope is malformed' },
  UPSTREAM_UNAVAILABLE: { status: 502, description: 'the upstream registry could not be reached' },
  UPSTREAM_INVALID: { status: 502, description: 'the upstream registry sent invalid content' },
  UPSTREAM_TIMEOUT: { status: 504, description: 'the upstream registry did not answer in time' },
  STORAGE_UNAVAILABLE: { status: 507, description: 'the local content store is out of space' },
  UNAVAILABLE: { status: 503, description: 'the proxy cannot record or serve this request right now' },
} as const;

export type OciErrorCode = keyof typeof ERROR_CODES;

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message ?? ERROR_CODES[code].description);
    this.code = code;
    this.detail = detail;
    this.headers = headers;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  toBody(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}
