import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpRequest, HttpResponse } from './plain.js';
import { pathOf, sendJson } from './plain.js';

/** How large a request body a route takes, and how long it may take to arrive. */
export interface BodyRule {
  maxBytes: number;
  timeoutMs: number;
}

const MiB = 1024 * 1024;
/** Whole policies: `PUT /api/v1/policy` and `POST /api/v1/policy/replay`. */
const POLICY_DOCUMENT: BodyRule = { maxBytes: MiB, timeoutMs: 30_000 };
/** Every other admin API call: a few fields. */
const SMALL_JSON: BodyRule = { maxBytes: 64 * 1024, timeoutMs: 10_000 };
/** The pull API, health, metrics, the console and the token endpoint read no body. */
const NONE: BodyRule = { maxBytes: 0, timeoutMs: 0 };

/** The body rule of a route. Matched case-insensitively, as the router matches: a variant never gets more. */
export function bodyRule(method: string | undefined, path: string): BodyRule {
  const p = path.toLowerCase().replace(/\/+$/, '');
  if (!p.startsWith('/api/v1/')) return NONE;
  if ((method === 'PUT' && p === '/api/v1/policy') || (method === 'POST' && p === '/api/v1/policy/replay')) return POLICY_DOCUMENT;
  return SMALL_JSON;
}

/** Whether the request says a body follows. */
export function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * At the door, before anything else: a request that brings a body ends its connection when answered.
 * Node would otherwise keep reading a body nobody reads (a refusal answered before it, a route that takes
 * none) to keep the connection alive, at whatever pace the sender likes.
 */
export function closeAfterBody(req: IncomingMessage, res: ServerResponse): void {
  if (declaresBody(req)) res.setHeader('Connection', 'close');
}

/**
 * Bounds request bodies per route (see bodyRule): a declared length over the route's limit is refused
 * with 413 before anything is read, and a body that has not fully arrived within the route's time (at
 * most `requestTimeoutMs`, the server-wide bound) gets 408, and its connection closes. Authentication and
 * role checks run before any body is read (see api-auth.ts), so this is all an anonymous sender can hold.
 */
export function bodyLimits(requestTimeoutMs: number) {
  return (req: HttpRequest, res: HttpResponse, next: () => void): void => {
    if (!declaresBody(req)) return next();
    const rule = bodyRule(req.method, pathOf(req));
    if (rule.maxBytes === 0) return next();
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > rule.maxBytes) return refuse(res, 413, 'TOO_LARGE', `the body is larger than this call takes (${rule.maxBytes} bytes)`);
    const ms = Math.min(rule.timeoutMs, requestTimeoutMs || rule.timeoutMs);
    const timer = setTimeout(() => {
      if (req.complete) return;
      if (!res.headersSent) refuse(res, 408, 'REQUEST_TIMEOUT', `the body did not arrive within ${ms / 1000} s`);
      else req.socket.destroy();
    }, ms);
    const done = () => clearTimeout(timer);
    req.once('end', done);
    res.once('close', done);
    next();
  };
}

function refuse(res: HttpResponse, status: number, code: string, message: string): void {
  res.locals.failure = { code, error: message };
  res.setHeader('Connection', 'close');
  sendJson(res, status, { error: { code, message } });
}

/**
 * The answer for a path no route takes. Express's own final handler would first wait for the whole body
 * of the request, at whatever pace the sender likes.
 */
export function notFound(req: HttpRequest, res: HttpResponse): void {
  res.statusCode = 404;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Security-Policy', "default-src 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(`No route for ${req.method} ${pathOf(req).slice(0, 200)}.\n`);
}
