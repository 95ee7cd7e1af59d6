import { resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { createLogger } from '../logger.js';
import { ArchiveError } from '../transfer/archive-reader.js';
import { ImportError, runImport } from '../transfer/run-import.js';
import { EXIT, runInterruptible, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';

export const importCommand: Command = {
  name: 'import',
  summary: 'verify the images of an OCI layout archive under this policy and load the allowed ones',
  usage: `portcullis import --config FILE bundle.tar

Reads an OCI image layout archive (as written by portcullis export, or skopeo's oci-archive:), checks that
every blob hashes to its name, and judges each named image under THIS instance's policy and trust roots,
never the exporter's decision, with no upstream access: the archive stands in for the upstreams. Allowed
images are loaded into the cache as if pulled (manifests, every platform, config and layers, and the
signature and attestation artifacts later pulls verify with), tags last; refused ones are reported with their
reasons and nothing of them is tagged. Every decision is audited (import.image). Prints one JSON line per image.
Exits 0 when every image was loaded, ${EXIT.denied} when any was refused, ${EXIT.usage} when the archive is not a
readable OCI layout, ${EXIT.failed} on other failures.`,
  async run(args) {
    checkFlags(args, ['config'], 1);
    const archive = args.positional[0];
    if (!archive) throw new UsageError('the archive is required, e.g. portcullis import --config FILE bundle.tar');
    const config = loadConfigFile(configFile(args));
    const log = createLogger('warn', {}, (line) => process.stderr.write(line));
    return runInterruptible([[ArchiveError, EXIT.usage], [ImportError, EXIT.failed]], async (signal) => {
      const result = await runImport(config, resolve(archive), log, (o) => {
        const { name, digest, decision, rule, reasons } = o;
        process.stdout.write(`${JSON.stringify({ image: name, digest, decision, rule, reasons })}\n`);
      }, signal);
      const refused = result.images.filter((o) => o.decision === 'deny' || o.decision === 'error');
      const summary = result.summary?.signature ?? null;
      process.stdout.write(`${JSON.stringify({ archive, images: result.images.length, loaded: result.images.length - refused.length, refused: refused.length, summarySignature: summary })}\n`);
      return refused.length > 0 ? EXIT.denied : EXIT.ok;
    });
  },
};
