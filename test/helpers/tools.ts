import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * End-to-end suites need real binaries. Locally a missing one skips the suite with a notice; under CI
 * (`CI` set) it throws, so a machine without the tools cannot pass by running nothing.
 *
 *   const skip = !haveTools(['docker-registry', 'skopeo']);
 *   describe.skipIf(skip)('pull-through', () => { ... });
 */

/** Absolute path of an executable found on PATH (or the given absolute path), or undefined. */
export function findTool(name: string): string | undefined {
  const candidates = isAbsolute(name)
    ? [name]
    : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
        .split(delimiter)
        .concat(['/usr/sbin', '/sbin'])
        .filter(Boolean)
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** True when the tool exists. Missing: prints a notice, or throws when `CI` is set. */
export function requireTool(name: string): boolean {
  return haveTools([name]);
}

/** True when every tool exists. Missing: prints one notice naming them all, or throws when `CI` is set. */
export function haveTools(names: readonly string[]): boolean {
  const missing = names.filter((name) => findTool(name) === undefined);
  return requirement(missing.length === 0, `missing tools: ${missing.join(', ')}`);
}

/** containerd needs root (mounts, snapshotters); same skip-or-throw rule as a missing tool. */
export function haveRoot(): boolean {
  return requirement(process.getuid?.() === 0, 'containerd tests need root');
}

/** Shared rule: a missing prerequisite skips locally and fails under CI. */
export function requirement(ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (process.env.CI) throw new Error(`end-to-end prerequisite not met under CI: ${reason}`);
  console.warn(`[e2e] skipping: ${reason}`);
  return false;
}

/** A loopback port that was free a moment ago: bind port 0, read it, release it. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Polls `check` until it returns true; throws with `what` after the timeout. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}

/** True once `url` answers with `status` (any status when omitted). */
export async function httpAnswers(url: string, status?: number): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return status === undefined || res.status === status;
}

export interface Daemon {
  readonly pid: number | undefined;
  /** Every line the process wrote to stdout and stderr so far, in arrival order. */
  lines(): string[];
  /** Whether the process is still running. */
  running(): boolean;
  /** Sends `signal`, waits for exit; SIGKILL after `graceMs`. Resolves with the exit code or signal. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string | null>;
}

// Daemons must not outlive a test run that ends abruptly.
const live = new Set<import('node:child_process').ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Spawns a long-running process and keeps its output as lines. */
export async function spawnDaemon(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; echo?: boolean } = {},
): Promise<Daemon> {
  const { spawn } = await import('node:child_process');
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.on('exit', () => live.delete(child));
  const collected: string[] = [];
  let exit: number | string | null | undefined;
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('exit', (code, signal) => {
      exit = code ?? signal;
      resolve(exit);
    });
    child.on('error', (err) => {
      collected.push(`spawn error: ${err.message}`);
      exit = -1;
      resolve(-1);
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        collected.push(line);
        if (options.echo || process.env.E2E_ECHO) console.log(`[${command.split('/').pop()}] ${line}`);
      }
    });
    stream.on('end', () => {
      if (partial) collected.push(partial);
      partial = '';
    });
  }
  return {
    pid: child.pid,
    lines: () => collected.slice(),
    running: () => exit === undefined,
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (exit !== undefined) return exit;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
