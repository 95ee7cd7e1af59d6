import { readFileSync } from 'node:fs';
import { loadConfigFile } from '../config/load.js';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { ImageListError, readImageList, resolveImages, type ListedImage } from '../prefetch/image-list.js';
import { isPlatform } from '../prefetch/platforms.js';
import { runPrefetch } from '../prefetch/prefetch-run.js';
import { EXIT, UsageError, type Command, type ParsedArgs } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';
import { osUser } from './os-user.js';
import { jsonLinesReporter, ttyReporter } from './prefetch-progress.js';

export const prefetchCommand: Command = {
  name: 'prefetch',
  summary: 'fetch images whole into the cache ahead of pulls, judged and audited as pulls',
  usage: `portcullis prefetch --config FILE [--file LIST] [--platforms P,...] [--concurrency N] [--no-referrers] [IMAGE...]

Fetches each IMAGE (e.g. docker.io/acme/app:1.2 or ghcr.io/org/app@sha256:...) into the database and store
named in the config file, through the same path a pull takes: the manifest is judged under the active stored
policy, and an allowed image is cached whole (each platform of an index, configs and layers, and its
signatures, attestations and other referrers). A refused image is reported with its rule and reasons and
nothing of its content is fetched. Every decision is audited with "prefetch:<user>" as the puller.
  --file LIST        also read images from LIST: one per line; blank lines and # comments are skipped
  --platforms P,...  only these platforms of an index, e.g. linux/amd64,linux/arm64 (default: all)
  --concurrency N    images fetched at once (default: prefetch.concurrency in the config, else 2)
  --no-referrers     skip signatures, attestations and other referrers
Shows a progress bar per image on a terminal, JSON lines otherwise, then a summary. Exits 0 when every
image was cached, ${EXIT.denied} when one was refused, ${EXIT.failed} when one could not be fetched, ${EXIT.usage} on a bad list.
It may run while the proxy serves from the same database and store.`,
  booleanFlags: ['no-referrers'],
  async run(args) {
    checkFlags(args, ['config', 'file', 'platforms', 'concurrency', 'no-referrers'], Infinity);
    const listed = listedImages(args);
    if (listed.length === 0) throw new UsageError('name images to prefetch: IMAGE arguments, --file LIST, or both');
    const platforms = platformsFlag(args);
    const concurrencyFlag = args.flags.concurrency === undefined ? undefined : wholeNumber(args.flags.concurrency, 'concurrency');
    const config = loadConfigFile(configFile(args));
    const log = createLogger('warn', {}, (line) => process.stderr.write(line));
    const app = await createApp(config, { log, maintenance: false });
    try {
      let requests;
      try {
        requests = resolveImages(listed, app.upstreams, config.defaultUpstream);
      } catch (err) {
        if (err instanceof ImageListError) throw new UsageError(`the image list has problems:\n  ${err.problems.join('\n  ')}`);
        throw err;
      }
      const write = (text: string) => process.stdout.write(text);
      const reporter = process.stdout.isTTY ? ttyReporter(write) : jsonLinesReporter(write);
      const summary = await runPrefetch(app.walker, requests, {
        user: `prefetch:${osUser()}`,
        platforms,
        referrers: args.flags['no-referrers'] !== true,
        concurrency: concurrencyFlag ?? config.prefetch?.concurrency ?? 2,
      }, reporter);
      reporter.summary(summary);
      return summary.failed > 0 ? EXIT.failed : summary.refused > 0 ? EXIT.denied : EXIT.ok;
    } finally {
      await app.close();
    }
  },
};

function listedImages(args: ParsedArgs): ListedImage[] {
  const fromArgs = args.positional.map((image, i) => ({ image, where: `argument ${i + 1}` }));
  const file = args.flags.file;
  if (file === undefined) return fromArgs;
  if (typeof file !== 'string' || file === '') throw new UsageError('--file needs a value');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return [...fromArgs, ...readImageList(text, file)];
}

function platformsFlag(args: ParsedArgs): string[] | undefined {
  const v = args.flags.platforms;
  if (v === undefined) return undefined;
  const list = String(v).split(',').map((p) => p.trim()).filter((p) => p !== '');
  const bad = list.find((p) => !isPlatform(p));
  if (list.length === 0 || bad !== undefined) throw new UsageError(`--platforms: "${bad ?? v}" is not a platform such as linux/amd64 or linux/arm/v7`);
  return list;
}

function wholeNumber(v: string | true, name: string): number {
  const n = typeof v === 'string' && /^\d{1,3}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 64)) throw new UsageError(`--${name} must be a whole number from 1 to 64`);
  return n;
}

