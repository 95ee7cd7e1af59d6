import { loadConfigFile } from '../config/load.js';
import { withDatabase } from './with-database.js';
import { verifyChain } from '../audit/verify-chain.js';
import { requireFlag, type Command } from './command.js';
import { checkFlags, printJson } from './audit-flags.js';

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'recompute the audit log hash chain; exit 1 if it was tampered with',
  usage: `portcullis audit verify --config FILE

Recomputes the hash chain of the audit log in the database named in the config file and prints
{"ok", "events", "firstBroken", "reason", "head"} like GET /api/v1/audit/verify. Exits 0 when the log
is intact and 1 when an event was changed, removed (from the middle or the end, even when new events
were appended since: ids are never reused) or moved; "firstBroken" names the first event that fails,
and "reason" where the log was cut. Keep "head" somewhere else: a later head that does not descend from
it means the log was rewritten as a whole.`,
  async run(args) {
    checkFlags(args, ['config']);
    const config = loadConfigFile(requireFlag(args, 'config'));
    return withDatabase(config, async (db) => {
      const report = await verifyChain(db.audit);
      printJson(report);
      if (!report.ok) process.stderr.write(`portcullis: audit log broken at event ${report.firstBroken}: ${report.reason}\n`);
      return report.ok ? 0 : 1;
    });
  },
};
