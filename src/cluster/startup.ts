/**
 * How a worker that could not start (the port is taken, the database is down) tells its supervisor, so
 * that a failed start is one line and a non-zero exit, as with a single process, rather than a line per
 * worker and a supervisor serving nothing.
 */
export interface StartupFailure {
  startup: 'failed';
  message: string;
}

export function isStartupFailure(value: unknown): value is StartupFailure {
  return typeof value === 'object' && value !== null && (value as { startup?: unknown }).startup === 'failed'
    && typeof (value as { message?: unknown }).message === 'string';
}

/**
 * Sends the failure to the supervisor and exits with `code`; the supervisor says it. Never resolves, so the
 * error is not printed again by this process. Without a supervisor to tell, rejects with the error instead.
 */
export function reportStartupFailure(err: unknown, code: number): Promise<never> {
  const message = err instanceof Error ? err.message : String(err);
  if (!process.send || !process.connected) return Promise.reject(err);
  return new Promise<never>((_, reject) => {
    process.send!({ startup: 'failed', message } satisfies StartupFailure, undefined, {}, (sendError) => {
      if (sendError) reject(err);
      else process.exit(code);
    });
  });
}
