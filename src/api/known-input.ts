import type { Request, RequestHandler } from 'express';
import { unknownNames, type NameError } from '../text/unknown-names.js';
import { closestName } from '../text/did-you-mean.js';
import { sendApiError } from './api-error.js';

export interface KnownInput {
  /** Query parameters the route reads (none when absent). */
  query?: readonly string[];
  /** Fields of a JSON object body the route reads (none when absent); a body that is no object is the route's to judge. */
  body?: readonly string[];
}

/**
 * Refuses, with 400 naming each one, a query parameter or body field the route does not read: a write that
 * ignored `?dryrun=true` or `"coment"` would change production while the caller believed otherwise.
 */
export function onlyKnown(known: KnownInput): RequestHandler {
  return (req, res, next) => {
    const query = req.query as Record<string, unknown>;
    const body = isObject(req.body) ? req.body : {};
    const errors: NameError[] = [
      ...unknownNames(query, known.query ?? [], 'parameter of this endpoint'),
      ...unknownNames(body, known.body ?? [], 'field of this request body'),
    ];
    if (errors.length === 0) return next();
    const named = [...unnamed(query, known.query, 'parameter'), ...unnamed(body, known.body, 'field')];
    sendApiError(res, 400, 'BAD_REQUEST', `unknown ${named.join(', ')}; nothing was done`, errors);
  };
}

/** `parameter "dryrun" (did you mean dryRun?)` for each unknown key. */
function unnamed(input: Record<string, unknown>, known: readonly string[] = [], what: string): string[] {
  return Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((key) => {
      const close = closestName(key, known);
      return `${what} "${key.length > 64 ? `${key.slice(0, 64)}…` : key}"${close ? ` (did you mean ${close}?)` : ''}`;
    });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `?dryRun=`: false when absent, undefined when it is neither true nor false. */
export function dryRunOf(req: Request): boolean | undefined {
  const value = req.query.dryRun;
  if (value === undefined || value === 'false') return false;
  return value === 'true' ? true : undefined;
}
