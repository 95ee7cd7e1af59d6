import { loadConfigFile } from '../config/load.js';
import { loadTrust } from '../verify/trust-material.js';
import type { Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';

export const configCheckCommand: Command = {
  name: 'check-config',
  summary: 'validate a config file and its trust material',
  usage: `portcullis check-config --config FILE

Validates the config file, reporting every error with its path, and loads the trust material.
Exits 0 when the proxy would start with it.`,
  async run(args) {
    checkFlags(args, ['config']);
    const config = loadConfigFile(configFile(args));
    loadTrust(config.trust);
    process.stdout.write(`${config.source}: ok (${config.upstreams.length} upstreams, ${config.policies.length} policy rules)\n`);
    return 0;
  },
};
