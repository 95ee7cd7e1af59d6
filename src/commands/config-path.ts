import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError, type ParsedArgs } from './command.js';

/** Where a command looks for its config when `--config` is not given and PORTCULLIS_CONFIG is unset, in order. */
export const DEFAULT_CONFIG_PATHS = ['./portcullis.json', '/etc/portcullis/config.json'] as const;

/**
 * The config file a command reads: `--config FILE`, else the file PORTCULLIS_CONFIG names (an error if it
 * is missing, never a reason to look elsewhere: the admin meant that file), else the first default path
 * that exists.
 */
export function configFile(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): string {
  const flag = args.flags.config;
  if (flag !== undefined) {
    if (typeof flag !== 'string' || flag.length === 0) throw new UsageError('--config needs a value');
    return flag;
  }
  const fromEnv = env.PORTCULLIS_CONFIG;
  if (fromEnv) return fromEnv;
  const found = DEFAULT_CONFIG_PATHS.find((p) => existsSync(resolve(p)));
  if (found) return found;
  throw new UsageError(`no config file: give --config FILE, set PORTCULLIS_CONFIG, or create ${DEFAULT_CONFIG_PATHS.join(' or ')}`);
}
