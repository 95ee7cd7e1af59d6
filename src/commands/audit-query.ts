import { loadConfigFile, READ_ONLY } from '../config/load.js';
import { withDatabase } from './with-database.js';
import { AUDIT_FORMATS, writeAuditEvents, type AuditFormat } from '../audit/audit-export.js';
import { AUDIT_ORDERS, AuditQuery, decodeCursor, encodeCursor, FILTER_KEYS, parseAuditFilter, type AuditCursor, type AuditOrder } from '../audit/audit-query.js';
import { UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';
import { writeAuditTable } from './audit-table.js';

export const auditQueryCommand: Command = {
  name: 'audit query',
  summary: 'print audit events matching filters (json, ndjson, csv or a table)',
  usage: `portcullis audit query [--config FILE] [filters] [--format json|ndjson|csv|table] [--order asc|desc]
       [--limit N] [--cursor C]

Reads the audit log from the database named in the config file and prints the matching events in id
order (oldest first; newest first with --order desc), the same way GET /api/v1/audit/events does. Without --limit every matching event is printed
(streamed); with it, at most N, and the JSON output's "next" (or stderr for ndjson/csv) gives the cursor
for the next page. --format table prints aligned columns for people (time, decision, image, puller,
reason), long values shortened.

Filters (all optional, combined with AND):
  --kind K           pull.manifest, pull.blob, policy.update, policy.rollback, auth.failure, audit.prune, ...
  --decision D       allow, deny or warn
  --repository R     canonical repository, e.g. docker.io/library/alpine
  --repositoryPrefix P
                     repositories starting with P, e.g. docker.io/library/ (% and _ are plain text)
  --digest D         manifest or blob digest
  --user U           token name of the caller
  --requestId ID     the events of one request (its X-Request-Id)
  --signer S         events whose evidence names a signer (whole; scans and VEX included): a trust.keys
                     name, a keyless subject, a Notation subject DN or certificate fingerprint
  --issuer I         with --signer: the keyless identity's issuer
  --since T          ISO 8601 time (inclusive) or a duration back from now: 7d, 12h, 15m, 30s
  --until T          ISO 8601 time (exclusive) or a duration back from now (README: Durations and times)

Example: every denied pull of the last week, as CSV:
  portcullis audit query --config portcullis.json --decision deny --since 7d --format csv
and the newest 20 events, to read:
  portcullis audit query --order desc --limit 20 --format table`,
  async run(args) {
    checkFlags(args, ['config', 'format', 'order', 'limit', 'cursor', ...FILTER_KEYS]);
    const config = loadConfigFile(configFile(args), process.env, READ_ONLY);
    const { filter, errors } = parseAuditFilter(args.flags);
    if (errors.length > 0) throw new UsageError(errors.map((e) => `--${e.path} ${e.message}`).join('; '));
    const format = (args.flags.format ?? 'json') as AuditFormat | 'table';
    if (format !== 'table' && !AUDIT_FORMATS.includes(format)) throw new UsageError('--format must be json, ndjson, csv or table');
    let limit: number | undefined;
    if (args.flags.limit !== undefined) {
      limit = Number(args.flags.limit);
      if (!Number.isSafeInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');
    }
    const order = (args.flags.order ?? 'asc') as AuditOrder;
    if (!AUDIT_ORDERS.includes(order)) throw new UsageError('--order must be asc (oldest first) or desc (newest first)');
    let cursor: AuditCursor | undefined;
    if (args.flags.cursor !== undefined) {
      cursor = typeof args.flags.cursor === 'string' ? decodeCursor(args.flags.cursor) : undefined;
      if (!cursor) throw new UsageError('--cursor is not a cursor from a previous query');
      if (cursor.order !== order) throw new UsageError(`--cursor continues a query with --order ${cursor.order}; add --order ${cursor.order} or start again without --cursor`);
    }
    await withDatabase(config, async (db) => {
      const query = new AuditQuery(db.audit);
      const plan = await query.plan(filter, order, cursor, limit, await query.maxId());
      const next = plan.next === null ? null : encodeCursor(plan.next);
      const rows = query.pageRows(filter, order, plan);
      if (format === 'table') await writeAuditTable(process.stdout, rows);
      else await writeAuditEvents(process.stdout, format, rows, next);
      if (next && format !== 'json') process.stderr.write(`next: ${next}\n`);
    });
    return 0;
  },
};
