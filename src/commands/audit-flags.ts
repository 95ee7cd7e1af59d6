import { UsageError, type ParsedArgs } from './command.js';
import { didYouMean } from '../text/did-you-mean.js';

/**
 * Rejects flags a command does not know, so a typo never silently widens a query, naming the flag it
 * probably meant; then a known flag given without its value.
 */
export function checkFlags(args: ParsedArgs, known: readonly string[], positional = 0): void {
  for (const name of Object.keys(args.flags)) {
    if (name !== 'help' && !known.includes(name)) throw new UsageError(`unknown option --${name}${didYouMean(name, known, (k) => `--${k}`)}`);
  }
  const missing = args.missingValues?.find((name) => name !== 'help');
  if (missing !== undefined) throw new UsageError(`--${missing} needs a value`);
  if (args.positional.length > positional) throw new UsageError(`unexpected argument "${args.positional[positional]}"`);
}

/** Writes JSON to stdout, pretty when a person is reading. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, process.stdout.isTTY ? 2 : undefined)}\n`);
}
