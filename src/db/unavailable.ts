/**
 * Whether an error means the database could not be reached or is going away, rather than that a query was
 * wrong: such a request fails closed with 503 and the client retries, instead of a 500 that reads as a bug.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  // PostgreSQL SQLSTATE class 08 (connection exception), 57P01-57P03 (shutting down, cannot connect now),
  // 53300 (too many connections); the socket errors under them; SQLite's busy, locked and I/O errors.
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  if (/^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL)/.test(code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  // node-postgres reports a lost or never-made connection with these messages and no code.
  return /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Query read timeout|Client was closed|Cannot use a pool after calling end/i.test(message);
}
