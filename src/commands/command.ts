/**
 * Exit codes, the same for every command: scripts tell a command's finding (1: a tampered log, an
 * unhealthy proxy, a stale --if-version; 3: a denied image) from a command that could not run as asked (2)
 * or that failed while running (4, e.g. the database is down), so a failure never reads as a finding.
 */
export const EXIT = { ok: 0, finding: 1, usage: 2, denied: 3, failed: 4 } as const;

/** A CLI command: its name, one-line summary, usage text and what it does. Returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Flags that take no value (besides --help). */
  booleanFlags?: readonly string[];
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | true>;
  /** Flags given without a value (last, or before another flag); reported after unknown flags, so a typo is named as one. */
  missingValues?: string[];
}

export class UsageError extends Error {}

/** `--name value`, `--name=value` and bare `--flag`. Values never start with `--`. */
export function parseArgs(argv: string[], booleanFlags: readonly string[] = ['help']): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  const missingValues: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h') {
      flags.help = true;
    } else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) flags[name] = a.slice(eq + 1);
      else if (booleanFlags.includes(name)) flags[name] = true;
      else {
        const value = argv[i + 1];
        if (value === undefined || value.startsWith('--')) {
          flags[name] = true;
          missingValues.push(name);
        } else {
          flags[name] = value;
          i++;
        }
      }
    } else {
      positional.push(a);
    }
  }
  return { positional, flags, missingValues };
}

export function requireFlag(args: ParsedArgs, name: string): string {
  const v = args.flags[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

/** An error a command expects, and the exit code it ends with: its message is all the user needs. */
export type KnownFailure = readonly [new (...args: never[]) => Error, number];

/**
 * Runs a long command's work with SIGINT and SIGTERM aborting `signal` (the work stops cleanly instead of
 * the process dying mid-write), and ends an expected failure as `portcullis: MESSAGE` on stderr with its
 * exit code. Anything else is thrown on, to the CLI's handler.
 */
export async function runInterruptible(known: readonly KnownFailure[], work: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    return await work(stop.signal);
  } catch (err) {
    const failure = known.find(([type]) => err instanceof type);
    if (!failure) throw err;
    process.stderr.write(`portcullis: ${(err as Error).message}\n`);
    return failure[1];
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}
