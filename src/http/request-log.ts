import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../logger.js';

/**
 * One JSON log line per request once it finishes or the client goes away: request id, method, path
 * (no query string, which may carry anything), status, duration and the authenticated user.
 */
export function requestLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      log.info('request', {
        requestId: res.locals.requestId,
        method: req.method,
        path: req.originalUrl.split('?')[0]!.slice(0, 1024),
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        user: (res.locals.user as string | undefined) ?? null,
        client: req.socket.remoteAddress ?? null,
        ...(res.writableFinished ? {} : { aborted: true }),
      });
    };
    res.once('finish', finish);
    res.once('close', finish);
    next();
  };
}
