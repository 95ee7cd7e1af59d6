import type { Writable } from 'node:stream';
import { rowToEvent, type StoredRow } from './chain.js';
import type { AuditEvent } from './types.js';

export type AuditFormat = 'json' | 'ndjson' | 'csv';
export const AUDIT_FORMATS: readonly AuditFormat[] = ['json', 'ndjson', 'csv'];

export const CONTENT_TYPES: Record<AuditFormat, string> = {
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

/** CSV columns, in the order of the event object; lists and objects are JSON text in their cell. */
export const CSV_COLUMNS: readonly (keyof AuditEvent)[] = [
  'id', 'time', 'kind', 'requestId', 'client', 'user', 'upstream', 'repository', 'reference', 'digest', 'decision',
  'policy', 'policyVersion', 'mode', 'reasons', 'evidence', 'cacheHit', 'bytes', 'status', 'prevHash', 'hash',
];

/**
 * Writes events as JSON (`{"events":[...],"next":...}`), NDJSON or CSV, one batch at a time, waiting for
 * the destination to drain, so memory stays flat however many rows go out. Stops early if the
 * destination closes (a client that went away). The API and the CLI both write through this.
 */
export async function writeAuditEvents(
  out: Writable,
  format: AuditFormat,
  batches: AsyncIterable<StoredRow[]>,
  next: string | null,
): Promise<void> {
  let closed = false;
  const onClose = () => (closed = true);
  out.once('close', onClose);
  try {
    let first = true;
    if (format === 'json') await write(out, '{"events":[');
    if (format === 'csv') await write(out, `${CSV_COLUMNS.join(',')}\r\n`);
    for await (const batch of batches) {
      if (closed || out.destroyed) return;
      let chunk = '';
      for (const row of batch) {
        const event = rowToEvent(row);
        if (format === 'csv') chunk += `${csvRow(event)}\r\n`;
        else if (format === 'ndjson') chunk += `${JSON.stringify(event)}\n`;
        else {
          chunk += `${first ? '' : ','}${JSON.stringify(event)}`;
          first = false;
        }
      }
      await write(out, chunk);
    }
    if (format === 'json') await write(out, `],"next":${JSON.stringify(next)}}\n`);
  } finally {
    out.off('close', onClose);
  }
}

/** Writes a chunk, waiting for drain (or for the destination to go away) when the stream is full. */
export async function write(out: Writable, chunk: string): Promise<void> {
  if (out.destroyed) return;
  if (out.write(chunk)) return;
  // Wait for drain, or for the destination to go away; remove every listener either way.
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}

export function csvRow(event: AuditEvent): string {
  return CSV_COLUMNS.map((c) => csvCell(event[c])).join(',');
}

/** First characters that make a spreadsheet read a cell as a formula (OWASP's list for CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  // Text can be chosen by clients (a claimed user name, a request id). Text a spreadsheet would run as a
  // formula is neutralised as OWASP recommends: a leading single quote, and the cell quoted. JSON and
  // NDJSON exports keep it exact.
  if (typeof value === 'string' && FORMULA_START.test(value)) return `"'${value.replace(/"/g, '""')}"`;
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  // RFC 4180 quoting; an empty string is quoted so it reads back apart from null (an empty cell).
  return text === '' || /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
