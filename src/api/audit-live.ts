import type { Request, Response } from 'express';
import type { Database } from '../db/types.js';
import type { Logger } from '../logger.js';
import { FILTER_KEYS, parseAuditFilter, unknownParameters } from '../audit/audit-query.js';
import { rowToEvent } from '../audit/chain.js';
import { sendApiError, type FieldError } from './api-error.js';
import type { Identity } from '../auth/token-registry.js';

const LIVE_PARAMS: readonly string[] = [...FILTER_KEYS, 'after'];
const BATCH = 200;

/**
 * The live audit streams open in this process: at most `max`, and at most `perIdentity` for any one identity
 * (so one reader cannot take every place), each polling the database, and all ended at once when the server
 * shuts down (an open stream would otherwise hold the shutdown for its grace time).
 */
export class LiveStreams {
  private readonly ends = new Map<(shutdown?: boolean) => void, string>();
  private readonly byIdentity = new Map<string, number>();

  constructor(
    readonly max = 50,
    readonly perIdentity = 5,
    readonly pollMs = 1000,
    readonly heartbeatMs = 15_000,
  ) {}

  get open(): number {
    return this.ends.size;
  }

  /** Takes a place for `identity`; says which limit is reached when there is none. */
  add(end: (shutdown?: boolean) => void, identity: string): 'ok' | 'process' | 'identity' {
    if (this.ends.size >= this.max) return 'process';
    const held = this.byIdentity.get(identity) ?? 0;
    if (held >= this.perIdentity) return 'identity';
    this.ends.set(end, identity);
    this.byIdentity.set(identity, held + 1);
    return 'ok';
  }

  remove(end: (shutdown?: boolean) => void): void {
    const identity = this.ends.get(end);
    if (identity === undefined) return;
    this.ends.delete(end);
    const held = (this.byIdentity.get(identity) ?? 1) - 1;
    if (held > 0) this.byIdentity.set(identity, held);
    else this.byIdentity.delete(identity);
  }

  closeAll(): void {
    for (const end of [...this.ends.keys()]) end(true);
  }
}

/**
 * GET /audit/events/live: Server-Sent Events of new events matching the /audit/events filters, in id order,
 * after `Last-Event-ID` (or `?after=`), else after the newest event now. It polls the database, so it sees
 * what every worker and replica writes. A plain streamed response: `fetch()` with a bearer token reads it.
 */
export function liveAuditEvents(d: { db: Database; log: Logger; streams: LiveStreams }) {
  return async (req: Request, res: Response): Promise<void> => {
    const q = req.query as Record<string, unknown>;
    const { filter, errors } = parseAuditFilter(q);
    const fieldErrors: FieldError[] = [...errors, ...unknownParameters(q, LIVE_PARAMS)];
    const header = req.get('last-event-id');
    const [startPath, startText] = header !== undefined ? ['Last-Event-ID', header] : ['after', q.after];
    let start: number | undefined;
    if (startText !== undefined) {
      start = typeof startText === 'string' && /^\d{1,15}$/.test(startText.trim()) ? Number(startText.trim()) : undefined;
      if (start === undefined) fieldErrors.push({ path: startPath, message: 'must be an event id (a non-negative integer)' });
    }
    if (fieldErrors.length > 0) {
      sendApiError(res, 400, 'BAD_REQUEST', `${fieldErrors.length} invalid parameter(s)`, fieldErrors);
      return;
    }

    if (req.method === 'HEAD') {
      // Express answers HEAD with the GET route: give the headers, not a stream that holds a place.
      res.status(200).setHeader('Content-Type', 'text/event-stream; charset=utf-8').end();
      return;
    }
    let closed = false;
    let shuttingDown = false;
    let wake: (() => void) | undefined;
    const end = (shutdown = false) => {
      closed = true;
      shuttingDown ||= shutdown;
      wake?.();
    };
    const onClose = () => end();
    const user = (res.locals.identity as Identity).name;
    const place = d.streams.add(end, user);
    if (place === 'identity') {
      res.setHeader('Retry-After', '10');
      sendApiError(res, 429, 'TOOMANYREQUESTS', `"${user}" already holds ${d.streams.perIdentity} live audit streams, the limit per identity (audit.liveStreamsPerIdentity); close one or retry later`);
      return;
    }
    if (place === 'process') {
      res.setHeader('Retry-After', '10');
      sendApiError(res, 503, 'UNAVAILABLE', `too many live audit streams: this process serves at most ${d.streams.max} at once; retry later`);
      return;
    }
    // Listening before the first await: a client that leaves at once still frees its place.
    res.on('close', onClose);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      let after = start ?? (await d.db.audit.maxId());
      if (closed) return;
      res.status(200);
      res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      res.write(`: events after ${after}\n\n`);
      heartbeat = setInterval(() => res.write(': keep-alive\n\n'), d.streams.heartbeatMs);
      while (!closed) {
        const rows = await d.db.audit.rows(filter, after, Number.MAX_SAFE_INTEGER, BATCH);
        if (closed) break;
        if (rows.length > 0) {
          after = rows[rows.length - 1]!.id;
          const chunk = rows.map((row) => `id: ${row.id}\nevent: audit\ndata: ${JSON.stringify(rowToEvent(row))}\n\n`).join('');
          // A slow reader holds the stream back rather than buffering without end.
          if (!res.write(chunk)) await untilDrained(res, (w) => (wake = w));
          if (rows.length === BATCH) continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, d.streams.pollMs).unref();
        });
        wake = undefined;
      }
    } catch (err) {
      if (!closed) d.log.error('live audit stream failed', { requestId: res.locals.requestId, error: String((err as Error)?.stack ?? err) });
    } finally {
      clearInterval(heartbeat);
      d.streams.remove(end);
      res.off('close', onClose);
      if (!res.headersSent) {
        // The database failed before the stream began, or the client left (or the server stops) meanwhile.
        if (closed) res.destroy();
        else sendApiError(res, 500, 'INTERNAL', 'internal error');
      } else if (shuttingDown) {
        // The connection goes too: kept alive, it would hold the server's close for its grace time.
        const socket = res.socket; // detached from the response once it finishes
        res.end(() => socket?.destroy());
      } else {
        res.end();
      }
    }
  };
}

function untilDrained(res: Response, setWake: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      resolve();
    };
    res.on('drain', done);
    setWake(done);
  });
}
