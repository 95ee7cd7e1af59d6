import { userInfo } from 'node:os';
import { loadConfigFile } from '../config/load.js';
import { PolicyVersions } from '../db/policy-versions.js';
import { PolicyVersionConflict } from '../db/policy-conflict.js';
import { commentError } from '../policy/policy-check.js';
import { databaseName, withDatabase } from './with-database.js';
import { EXIT, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags, printJson } from './audit-flags.js';
import { checkPolicyFile, describeProblems } from './policy-file.js';

/** Exit code when --if-version names a version that is no longer active. */
export const EXIT_CONFLICT = EXIT.finding;

export const policyApplyCommand: Command = {
  name: 'policy apply',
  summary: 'store a policy file as the new active policy version',
  booleanFlags: ['dry-run'],
  usage: `portcullis policy apply FILE --config FILE [--comment TEXT] [--if-version N] [--dry-run]

Checks the policy in FILE as "policy validate" does and stores it in the configured database as a new
active version, as PUT /api/v1/policy does: audited as a policy.update by "cli:<OS user>". Running
proxies sharing the database serve under it within about a second. FILE holds JSON: an array of rules,
or an object with a "policies" array (a PUT body, or a whole config file).

  --comment TEXT    why (at most 1000 characters), stored with the version
  --if-version N    store only if version N is still the active one (as If-Match does)
  --dry-run         print what would be stored (diff, summary, warnings) and store nothing

Prints the new version as JSON with its diff and warnings. Exits 0 when stored (or for a dry run),
${EXIT_CONFLICT} when --if-version no longer names the active version, 2 when the policy is invalid, FILE
cannot be read, no policy is stored yet, or the config or the options are wrong.`,
  async run(args) {
    checkFlags(args, ['config', 'comment', 'if-version', 'dry-run'], 1);
    const file = args.positional[0];
    if (!file) throw new UsageError('FILE is required, e.g. portcullis policy apply policy.json --config portcullis.json');
    const comment = args.flags.comment as string | undefined;
    const badComment = commentError(comment);
    if (badComment) throw new UsageError(`--comment ${badComment}`);
    const ifVersion = args.flags['if-version'] === undefined ? undefined : positiveInteger(String(args.flags['if-version']));
    const config = loadConfigFile(configFile(args));
    const checked = checkPolicyFile(file, config);
    process.stderr.write(describeProblems('error', checked.errors) + describeProblems('warning', checked.warnings));
    if (!checked.rules) throw new UsageError(`${file} has ${checked.errors.length} error(s); nothing was stored`);
    const rules = checked.rules;
    return withDatabase(config, async (db) => {
      const policies = new PolicyVersions(db.policies);
      if (!(await policies.hasVersions())) throw new UsageError(`no policy is stored in ${databaseName(config)} yet: start the proxy once`);
      if (args.flags['dry-run']) {
        const preview = await policies.preview(rules);
        if (ifVersion !== undefined && preview.activeVersion !== ifVersion) return conflict(new PolicyVersionConflict(preview.activeVersion, [ifVersion]));
        printJson({ dryRun: true, ...preview, policies: rules, ...(comment === undefined ? {} : { comment }), warnings: checked.warnings });
        return 0;
      }
      try {
        const version = await policies.update(rules, { user: `cli:${osUser()}` }, { comment, ifVersion: ifVersion === undefined ? undefined : [ifVersion] });
        const stored = (await policies.get(version))!;
        printJson({ ...stored, warnings: checked.warnings });
        return 0;
      } catch (err) {
        if (err instanceof PolicyVersionConflict) return conflict(err);
        throw err;
      }
    });
  },
};

function conflict(err: PolicyVersionConflict): number {
  process.stderr.write(`portcullis: ${err.message}; nothing was stored\n`);
  return EXIT_CONFLICT;
}

function positiveInteger(value: string): number {
  if (!/^[1-9]\d{0,14}$/.test(value)) throw new UsageError(`--if-version must be a positive integer, not "${value}"`);
  return Number(value);
}

/** The OS account running the command (the audit log's author); the environment's when it has no passwd entry. */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}
