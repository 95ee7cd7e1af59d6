import type { Response } from 'express';

export interface FieldError {
  path: string;
  message: string;
}

/** API errors: `{"error": {"code", "message"}, "errors": [{path, message}]?}` with the given status. */
export function sendApiError(res: Response, status: number, code: string, message: string, errors?: FieldError[]): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.locals.failure = { code, error: message };
  res.status(status).json({ error: { code, message }, ...(errors ? { errors } : {}) });
}
