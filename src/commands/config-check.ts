import { loadConfigFile } from '../config/load.js';
import { ConfigValidationError } from '../config/validator.js';
import { loadTrust } from '../verify/trust-material.js';
import type { Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';

export const configCheckCommand: Command = {
  name: 'check-config',
  summary: 'validate a config file and its trust material',
  usage: `portcullis check-config --config FILE

Validates the config file, reporting every error with its path, and loads the trust material; with
storage.s3, checks that the bucket can be reached with the configured credentials.
Exits 0 when the proxy would start with it.`,
  async run(args) {
    checkFlags(args, ['config']);
    const config = loadConfigFile(configFile(args));
    loadTrust(config.trust);
    const s3 = config.storage.s3;
    if (s3) {
      // The bucket is reachable with these credentials, as start-up will need.
      const { S3BlobStore } = await import('../store/s3-blob-store.js');
      const { createS3Client } = await import('../store/s3-client.js');
      const problem = await new S3BlobStore(s3, config.storage.path, createS3Client(s3)).bucketProblem();
      if (problem) throw new ConfigValidationError(config.source, [{ path: 'storage.s3', message: problem }]);
    }
    process.stdout.write(`${config.source}: ok (${config.upstreams.length} upstreams, ${config.policies.length} policy rules)\n`);
    return 0;
  },
};
