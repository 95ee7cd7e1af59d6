import { userInfo } from 'node:os';
import { loadConfigFile } from '../config/load.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { requireFlag, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags, printJson } from './audit-flags.js';

export const cachePurgeCommand: Command = {
  name: 'cache purge',
  summary: 'forget a repository\'s tags or remove a digest from the store (for a stopped proxy)',
  usage: `portcullis cache purge --config FILE [--repository UPSTREAM/REPO] [--digest D]

Purges cached content in the database and store named in the config file, as POST /api/v1/cache/purge
does, and prints {"purged": {"tags", "evidence", "files"}}. Name a repository, a digest, or both:
  --repository R   canonical <upstream>/<repository>: forget its tags (the next pull revalidates them)
                   and its verification results (the next pull verifies again)
  --digest D       remove that content from the store and forget its verification results
The purge is audited as a cache.purge event by "cli:<user>" from "local".

Use this while the proxy is stopped. A running proxy keeps verification results in memory until
trust.verifyTtl passes, and verified manifests for as long as they stay in its memory, so it would go on
using them: purge a running proxy through POST /api/v1/cache/purge, which makes every worker forget
them before it answers.`,
  async run(args) {
    checkFlags(args, ['config', 'repository', 'digest']);
    const config = loadConfigFile(configFile(args));
    const repository = args.flags.repository === undefined ? undefined : requireFlag(args, 'repository');
    const digest = args.flags.digest === undefined ? undefined : requireFlag(args, 'digest');
    if (repository === undefined && digest === undefined) throw new UsageError('name what to purge: --repository UPSTREAM/REPO, --digest D, or both');
    const log = createLogger('warn', {}, (line) => process.stderr.write(line));
    const app = await createApp(config, { log, maintenance: false });
    try {
      const { digests: _forgotten, ...purged } = await app.purge.purge({ repository, digest }, { user: `cli:${osUser()}`, client: 'local' });
      printJson({ purged });
      return 0;
    } catch (err) {
      // A name that is not canonical, an upstream not configured, a digest that is not one.
      if (err instanceof RangeError) throw new UsageError(err.message);
      throw err;
    } finally {
      await app.close();
    }
  },
};

/** Who runs the command, for the audit event (a container may have no passwd entry for its user). */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? String(process.getuid?.() ?? 'unknown');
  }
}
