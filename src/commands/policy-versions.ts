import { loadConfigFile, READ_ONLY } from '../config/load.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { withDatabase } from './with-database.js';
import type { Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags, printJson } from './audit-flags.js';

export const policyVersionsCommand: Command = {
  name: 'policy versions',
  summary: 'list policy versions with author, source and diff summary',
  usage: `portcullis policy versions --config FILE

Prints {"versions": [...]}, newest first, as GET /api/v1/policy/versions does: each with its number,
time, author, source ("config" or "api"), the version it rolled back to (if any) and what changed.`,
  async run(args) {
    checkFlags(args, ['config']);
    const config = loadConfigFile(configFile(args), process.env, READ_ONLY);
    return withDatabase(config, async (db) => {
      printJson({ versions: await new PolicyVersions(db.policies).list() });
      return 0;
    });
  },
};
