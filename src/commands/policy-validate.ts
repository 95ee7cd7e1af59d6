import { loadConfigFile, READ_ONLY } from '../config/load.js';
import { EXIT, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';
import { checkPolicyFile, describeProblems } from './policy-file.js';

export const policyValidateCommand: Command = {
  name: 'policy validate',
  summary: 'check a policy file as PUT /api/v1/policy would, printing errors and warnings',
  usage: `portcullis policy validate FILE --config FILE

Checks the policy in FILE with the validation the admin API applies, against the keys, trust roots and
upstreams of the config given by --config. FILE holds JSON: an array of rules, or an object with a
"policies" array (a PUT body, or a whole config file). Prints each error and warning with its path
(e.g. policies[2].match) on stderr. Nothing is stored.

Exits 0 when the policy is valid (warnings allowed), 2 when it is invalid, FILE cannot be read, or the
config or the options are wrong.`,
  async run(args) {
    checkFlags(args, ['config'], 1);
    const file = args.positional[0];
    if (!file) throw new UsageError('FILE is required, e.g. portcullis policy validate policy.json --config portcullis.json');
    const config = loadConfigFile(configFile(args), process.env, READ_ONLY);
    const checked = checkPolicyFile(file, config);
    process.stderr.write(describeProblems('error', checked.errors) + describeProblems('warning', checked.warnings));
    if (!checked.rules) {
      process.stderr.write(`${file}: invalid (${checked.errors.length} error(s))\n`);
      return EXIT.usage;
    }
    process.stdout.write(`${file}: valid (${checked.rules.length} rules, ${checked.warnings.length} warning(s))\n`);
    return 0;
  },
};
