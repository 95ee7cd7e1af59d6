import { pathOf, type HttpRequest, type HttpResponse } from './plain.js';
import { OciError } from '../oci/errors.js';
import type { Logger } from '../logger.js';
import { failureHeaders, failureOf } from './failure-info.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';

/**
 * Sends an OCI error body with the catalogue's status; a database that cannot be reached is a 503, and
 * anything else unexpected is logged and becomes a 500.
 * Why is also kept for the request log line and sent in headers (a HEAD answer has no body).
 */
export function sendError(req: HttpRequest, res: HttpResponse, err: unknown, log: Logger): void {
  const oci = err instanceof OciError
    ? err
    : isDatabaseUnavailable(err) ? new OciError('UNAVAILABLE', 'the database cannot be reached; refusing to serve') : undefined;
  if (!oci) log.error('unhandled error', { requestId: res.locals.requestId, path: pathOf(req), error: String((err as Error)?.stack ?? err) });
  const e = oci ?? new OciError('UNAVAILABLE', 'internal error');
  const status = oci ? e.status : 500;
  const failure = failureOf(e);
  res.locals.failure = failure;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [k, v] of Object.entries({ ...e.headers, ...failureHeaders(failure) })) res.setHeader(k, v);
  if (status === 401 && !res.getHeader('WWW-Authenticate')) res.setHeader('WWW-Authenticate', 'Basic realm="portcullis"');
  const body = JSON.stringify(e.toBody());
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}
