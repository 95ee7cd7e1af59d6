import { pino, stdTimeFunctions, type Logger as Pino } from 'pino';

/** JSON-lines logger (pino). Fields named like secrets are redacted, however deep, before anything is written. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const SECRET_KEY = /authorization|password|token|secret|cookie/i;
/** Nesting deeper than this is cut: a log line is not a place for a whole object graph. */
const MAX_DEPTH = 8;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * `write` receives one JSON line at a time (tests collect them). The default writes to stdout synchronously,
 * so the lines of a process that exits right after logging are not lost.
 */
export function createLogger(
  level: LogLevel = 'info',
  base: Record<string, unknown> = {},
  write?: (line: string) => void,
): Logger {
  const destination = write ? { write } : pino.destination({ dest: 1, sync: true });
  const root = pino(
    {
      level,
      base: null,
      timestamp: stdTimeFunctions.isoTime,
      // pino's `redact` takes fixed paths; the guarantee here is by key name at any depth (child bindings are
      // redacted in child()).
      formatters: {
        level: (label) => ({ level: label }),
        log: (fields) => redact(fields),
      },
    },
    destination,
  );
  return wrap(Object.keys(base).length > 0 ? root.child(redact(base)) : root);
}

function wrap(p: Pino): Logger {
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (fields) => wrap(p.child(redact(fields))),
  };
}

export const silentLogger: Logger = wrap(pino({ level: 'silent' }, { write: () => {} }));

/** A copy with every value under a secret-looking key replaced; the caller's objects are left alone. */
export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  return redactValue(fields, 0) as Record<string, unknown>;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  // Dates, buffers, URLs serialize themselves; any other object is written as its own fields, redacted.
  if (value instanceof Error || typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redactValue(v, depth + 1);
  return out;
}
