import { resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { ImageNameError, readImageNames } from '../transfer/image-names.js';
import { ExportError, runExport } from '../transfer/run-export.js';
import { EXIT, requireFlag, runInterruptible, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'judge images and write them, with their signatures, to an OCI layout archive',
  usage: `portcullis export --config FILE --out bundle.tar [--file LIST] IMAGE...

Judges each IMAGE (e.g. upstream.example/acme/app:1.2 or …@sha256:…) under the active policy exactly as a
pull would (audited, fetched from the cache or the upstream) and writes an OCI image layout archive
(oci-layout, index.json, blobs/) holding every platform of each image, its .sig/.att tags and referrers, and
a summary with the keys and trusted roots that verified them, signed with export.signingKey when set.
skopeo reads it as oci-archive:bundle.tar:NAME. LIST holds one image per line; # comments and blank lines
are skipped, duplicates carried once. The archive is written to a temp file and renamed when whole: if any
image is refused or fails, or the disk fills, nothing is written. Prints one JSON line per image.
Exits 0 when written, ${EXIT.denied} when an image was refused, ${EXIT.failed} when one could not be exported.`,
  async run(args) {
    checkFlags(args, ['config', 'out', 'file'], Infinity);
    const out = resolve(requireFlag(args, 'out'));
    const list = typeof args.flags.file === 'string' ? args.flags.file : undefined;
    if (args.positional.length === 0 && !list) throw new UsageError('IMAGE is required, e.g. portcullis export --out bundle.tar upstream.example/acme/app:1.2 --config FILE');
    const config = loadConfigFile(configFile(args));
    const log = createLogger('warn', {}, (line) => process.stderr.write(line));
    const app = await createApp(config, { log, maintenance: false });
    return runInterruptible([[ExportError, EXIT.failed]], async (signal) => {
      try {
        const images = await readImageNames(args.positional, list, app.transfer.upstreams, config.defaultUpstream).catch((err) => {
          throw err instanceof ImageNameError ? new UsageError(err.message) : err;
        });
        const result = await runExport(app, images, out, (o) => {
          const line = o.ok
            ? { image: o.image.name, digest: o.image.digest, decision: o.image.exporterDecision.outcome, blobs: o.image.contents.length, artifacts: o.image.artifacts.length }
            : { image: o.name, from: o.origin, decision: o.denied ? 'deny' : 'error', reasons: o.reasons };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        }, signal);
        const refused = result.images.filter((o) => !o.ok);
        process.stdout.write(`${JSON.stringify({ out, written: result.written, images: result.images.length, refused: refused.length })}\n`);
        if (result.written) return EXIT.ok;
        process.stderr.write(`portcullis: ${out} was not written: ${refused.length} of ${result.images.length} images could not be exported\n`);
        return refused.some((o) => !o.ok && !o.denied) ? EXIT.failed : EXIT.denied;
      } finally {
        await app.close();
      }
    });
  },
};
