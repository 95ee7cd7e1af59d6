import { loadConfigFile } from '../config/load.js';
import { openDatabase } from '../db/database.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { AuditLog } from '../audit/audit-log.js';
import { requireFlag, UsageError, type Command } from './command.js';
import { checkFlags, printJson } from './audit-flags.js';

export const policyShowCommand: Command = {
  name: 'policy show',
  summary: 'print the active policy (or one version) from the database',
  usage: `portcullis policy show --config FILE [--version N]

Prints {"version", "policies"} for the active policy, as GET /api/v1/policy does: the newest stored
version, which may have been set through the API after the config file was read. With --version N,
prints that version with its author, source and diff summary.`,
  async run(args) {
    checkFlags(args, ['config', 'version']);
    const config = loadConfigFile(requireFlag(args, 'config'));
    const db = openDatabase(config.database.path);
    try {
      const policies = new PolicyVersions(db, new AuditLog(db));
      if (!policies.hasVersions()) throw new UsageError(`no policy is stored in ${config.database.path} yet: start the proxy once`);
      if (args.flags.version !== undefined) {
        const found = policies.get(Number(args.flags.version));
        if (!found) throw new UsageError(`policy version ${String(args.flags.version)} does not exist`);
        printJson(found);
      } else {
        const active = policies.current();
        printJson({ version: active.version, policies: active.rules });
      }
      return 0;
    } finally {
      db.close();
    }
  },
};
