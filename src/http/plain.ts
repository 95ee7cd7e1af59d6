import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The request and response types the hot path uses: Node's own, plus the two fields express adds that we
 * rely on. Express objects satisfy them too, so the same handlers serve both.
 */
export type HttpRequest = IncomingMessage & { originalUrl?: string };
export type HttpResponse = ServerResponse & { locals: Record<string, unknown> };

/** The request path without its query string, as the client sent it. */
export function pathOf(req: HttpRequest): string {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
