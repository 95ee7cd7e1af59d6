import type { Writable } from 'node:stream';
import { rowToEvent, type StoredRow } from '../audit/chain.js';
import type { AuditEvent } from '../audit/types.js';
import { write } from '../audit/audit-export.js';

/**
 * Audit events as a table for a person at a terminal: time, decision, image, puller, reason. Columns have
 * fixed widths, so rows stream out as they are read (memory stays flat) and still line up; long values are
 * shortened with "…" (an image in the middle, keeping its tag; anything else at the end).
 */
const COLUMNS = [
  { title: 'TIME', width: 20 },
  { title: 'DECISION', width: 8 },
  { title: 'IMAGE', width: 48 },
  { title: 'PULLER', width: 16 },
] as const;
const GAP = '  ';
/** The reason takes the rest of the terminal; when piped, a line stays readable in a pager. */
const PIPED_REASON_WIDTH = 120;
const MIN_REASON_WIDTH = 30;

export async function writeAuditTable(out: Writable & { columns?: number; isTTY?: boolean }, batches: AsyncIterable<StoredRow[]>): Promise<void> {
  const fixed = COLUMNS.reduce((n, c) => n + c.width + GAP.length, 0);
  const reasonWidth = out.isTTY && out.columns ? Math.max(MIN_REASON_WIDTH, out.columns - fixed - 1) : PIPED_REASON_WIDTH;
  const line = (cells: string[]) => `${cells.slice(0, COLUMNS.length).map((c, i) => c.padEnd(COLUMNS[i]!.width)).join(GAP)}${GAP}${cells[4]}`.trimEnd();
  await write(out, `${line([...COLUMNS.map((c) => c.title), 'REASON'])}\n`);
  for await (const batch of batches) {
    if (out.destroyed) return;
    let chunk = '';
    for (const row of batch) {
      const e = rowToEvent(row);
      chunk += `${line([
        timeOf(e.time),
        e.decision ?? '-',
        shortenMiddle(imageOf(e), COLUMNS[2].width),
        shortenEnd(e.user ?? e.client ?? '-', COLUMNS[3].width),
        shortenEnd(reasonOf(e), reasonWidth),
      ])}\n`;
    }
    await write(out, chunk);
  }
}

function timeOf(time: string): string {
  const t = new Date(time);
  return Number.isNaN(t.getTime()) ? time : `${t.toISOString().slice(0, 19)}Z`;
}

/** `repo:tag` or `repo@sha256:0123456789ab`; events about no image show their kind. */
function imageOf(e: AuditEvent): string {
  if (!e.repository) return `(${e.kind})`;
  const ref = e.reference ?? e.digest;
  if (!ref) return e.repository;
  return ref.includes(':') ? `${e.repository}@${ref.slice(0, ref.indexOf(':') + 13)}` : `${e.repository}:${ref}`;
}

function reasonOf(e: AuditEvent): string {
  if (e.reasons.length > 0) return e.reasons.join('; ');
  return e.kind.startsWith('pull.') ? '-' : e.kind;
}

/** Clients choose some of this text: control characters (newlines, terminal escapes) become spaces. */
const plain = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');

function shortenEnd(s: string, width: number): string {
  const t = plain(s);
  return t.length <= width ? t : `${t.slice(0, width - 1)}…`;
}

function shortenMiddle(s: string, width: number): string {
  const t = plain(s);
  if (t.length <= width) return t;
  const tail = Math.floor((width - 1) / 2);
  return `${t.slice(0, width - 1 - tail)}…${t.slice(t.length - tail)}`;
}
