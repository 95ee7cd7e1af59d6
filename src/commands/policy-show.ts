import { loadConfigFile, READ_ONLY } from '../config/load.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { databaseName, withDatabase } from './with-database.js';
import { UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
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
    const config = loadConfigFile(configFile(args), process.env, READ_ONLY);
    const version = args.flags.version === undefined ? undefined : Number(args.flags.version);
    if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) {
      throw new UsageError('--version must be a policy version number (a positive integer)');
    }
    return withDatabase(config, async (db) => {
      const policies = new PolicyVersions(db.policies);
      if (!(await policies.hasVersions())) throw new UsageError(`no policy is stored in ${databaseName(config)} yet: start the proxy once`);
      if (version !== undefined) {
        const found = await policies.get(version);
        if (!found) throw new UsageError(`policy version ${String(args.flags.version)} does not exist`);
        printJson(found);
      } else {
        await policies.load();
        const active = policies.current();
        printJson({ version: active.version, policies: active.rules });
      }
      return 0;
    });
  },
};
