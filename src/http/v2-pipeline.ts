import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';
import type { HttpRequest, HttpResponse } from './plain.js';
import { requestLog } from './request-log.js';

type Handler = (req: HttpRequest, res: HttpResponse) => Promise<void> | void;
type Middleware = (req: HttpRequest, res: HttpResponse, next: () => void) => void;

/** Whether a request is for the pull API. */
export function isV2(url: string | undefined): boolean {
  return url !== undefined && (url === '/v2' || url.startsWith('/v2/') || url.startsWith('/v2?'));
}

/** Takes the client's X-Request-Id when it is sane, else a new one; echoes it back. */
export function assignRequestId(req: IncomingMessage, res: HttpResponse): void {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
  res.locals.requestId = id;
  res.setHeader('X-Request-Id', id);
}

/**
 * The /v2 request path without a web framework: request id, request log, pull authentication, then the
 * OCI handler. It carries nearly all traffic; a framework's per-request routing cost several times the
 * work of serving a cached manifest.
 */
export function v2Pipeline(log: Logger, guard: Middleware, handler: Handler): (req: IncomingMessage, res: ServerResponse) => void {
  const logRequest = requestLog(log);
  return (req, res) => {
    const r = res as HttpResponse;
    r.locals ??= {};
    assignRequestId(req, r);
    logRequest(req, r, () => guard(req, r, () => void handler(req, r)));
  };
}
