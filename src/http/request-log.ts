import { pathOf, type HttpRequest, type HttpResponse } from './plain.js';
import type { Logger } from '../logger.js';
import type { FailureInfo } from './failure-info.js';
import { clientAddress, normaliseAddress } from './client-address.js';

/**
 * One JSON log line per request once it finishes or the client goes away: request id, method, path
 * (no query string, which may carry anything), status, duration and the authenticated user. A failed
 * request's line also says why (`res.locals.failure`: the error, and the rule and reasons of a denial).
 */
export function requestLog(log: Logger) {
  return (req: HttpRequest, res: HttpResponse, next: () => void): void => {
    const started = performance.now();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const failure = res.statusCode >= 400 ? (res.locals.failure as FailureInfo | undefined) : undefined;
      log.info('request', {
        requestId: res.locals.requestId,
        method: req.method,
        path: pathOf(req).slice(0, 1024),
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        user: (res.locals.user as string | undefined) ?? null,
        client: clientAddress(req),
        // Behind a trusted proxy the client is its X-Forwarded-For hop; the proxy itself is the peer.
        ...(req.socket.remoteAddress !== undefined && normaliseAddress(req.socket.remoteAddress) !== clientAddress(req) ? { peer: req.socket.remoteAddress } : {}),
        ...(res.writableFinished ? {} : { aborted: true }),
        ...failure,
      });
    };
    // 'close' follows 'finish' on every response, and alone on one the client abandoned.
    res.once('close', finish);
    next();
  };
}
