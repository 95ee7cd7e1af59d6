import type { AuditEventInput } from '../audit/types.js';
import type { OciError } from '../oci/errors.js';
import type { HttpRequest, HttpResponse } from './plain.js';
import { clientAddress } from './client-address.js';

/** The audit event for a request refused before any content was judged. */
export function refusalEvent(req: HttpRequest, res: HttpResponse, err: OciError): AuditEventInput {
  const url = req.url ?? '';
  return {
    kind: 'request.refused',
    requestId: (res.locals.requestId as string | undefined) ?? null,
    client: clientAddress(req),
    user: (res.locals.user as string | undefined) ?? null,
    reference: `${req.method ?? ''} ${url.length > 300 ? `${url.slice(0, 300)}…` : url}`,
    status: err.status,
    reasons: [`${err.code}: ${err.message}`],
  };
}
