import { readFileSync } from 'node:fs';
import { loadConfigFile, READ_ONLY } from '../config/load.js';
import { withDatabase } from './with-database.js';
import { verifyChain } from '../audit/verify-chain.js';
import { loadVerifyKey } from '../audit/checkpoint.js';
import { verifyWithCheckpoints, type CheckpointedReport } from '../audit/checkpoint-report.js';
import { EXIT, UsageError, requireFlag, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags, printJson } from './audit-flags.js';

export const auditVerifyCommand: Command = {
  name: 'audit verify',
  summary: 'recompute the audit log hash chain; exit 1 if it was tampered with',
  usage: `portcullis audit verify --config FILE [--checkpoints FILE [--public-key FILE]]

Recomputes the hash chain of the audit log in the database named in the config file and prints
{"ok", "events", "firstBroken", "reason", "head"} like GET /api/v1/audit/verify. Exits 0 when the log
is intact and 1 when an event was changed, removed (from the middle or the end, even when new events
were appended since: ids are never reused) or moved; "firstBroken" names the first event that fails,
and "reason" where the log was cut.

--checkpoints FILE holds the log against signed checkpoints (the checkpoint file, or the proxy's log
stream: lines with msg "audit.checkpoint"). It proves the log holds every event up to the newest one,
even if someone rewrote the whole database and recomputed every hash: exit 1 when the log is shorter
than a checkpoint, when a checkpoint's event has another hash, or when a checkpoint's signature does not
verify. The key is the public half of audit.checkpoint.key from the config, or --public-key FILE (an
Ed25519 public key, PEM), so the check runs without the private key.`,
  async run(args) {
    checkFlags(args, ['config', 'checkpoints', 'public-key']);
    const config = loadConfigFile(configFile(args), process.env, READ_ONLY);
    const checkpointsFile = args.flags.checkpoints === undefined ? undefined : requireFlag(args, 'checkpoints');
    if (args.flags['public-key'] !== undefined && checkpointsFile === undefined) throw new UsageError('--public-key needs --checkpoints');
    let input: { text: string; key: ReturnType<typeof loadVerifyKey> } | undefined;
    if (checkpointsFile !== undefined) {
      const keyFile = args.flags['public-key'] !== undefined ? requireFlag(args, 'public-key') : config.audit.checkpoint?.key;
      if (!keyFile) throw new UsageError('--checkpoints needs a key: set audit.checkpoint.key in the config or pass --public-key FILE');
      input = { text: readText(checkpointsFile, '--checkpoints'), key: keyOf(keyFile) };
    }
    return withDatabase(config, async (db) => {
      const report: CheckpointedReport = input
        ? await verifyWithCheckpoints(db.audit, input.text, input.key, { requireOne: true })
        : await verifyChain(db.audit);
      printJson(report);
      if (!report.ok) {
        const where = report.firstBroken === null ? '' : ` at event ${report.firstBroken}`;
        process.stderr.write(`portcullis: audit log broken${where}: ${report.reason}\n`);
      }
      return report.ok ? EXIT.ok : EXIT.finding;
    });
  },
};

function readText(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

function keyOf(path: string): ReturnType<typeof loadVerifyKey> {
  try {
    return loadVerifyKey(readFileSync(path));
  } catch (err) {
    throw new UsageError(`key ${path}: ${(err as Error).message}`);
  }
}
