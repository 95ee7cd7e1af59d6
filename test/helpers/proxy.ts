import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, httpAnswers, spawnDaemon, waitUntil, type Daemon } from './tools.js';

/** Runs the built proxy (`node dist/cli.js serve --config FILE`) as its own process, as a user would. */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const START_TIMEOUT_MS = 45_000;

export interface ProxyUpstream {
  name: string;
  url: string;
  tagTtl?: string;
  [key: string]: unknown;
}

export interface StartProxyOptions {
  upstreams: ProxyUpstream[];
  /** Defaults to one allow-all rule. */
  policies?: unknown[];
  /** Defaults to the first upstream's name. */
  defaultUpstream?: string;
  /** Merged over the generated config last (e.g. `trust`, `auth`, `log`). */
  extra?: Record<string, unknown>;
  /** Holds the config file, store and database; a fresh temp dir when omitted. Reuse it to keep the cache. */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra arguments for node itself, e.g. `--cpu-prof` for a profile. */
  nodeArgs?: string[];
}

export interface Proxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, for client references such as `127.0.0.1:PORT/upstream.test/org/app:1`. */
  host: string;
  port: number;
  dataDir: string;
  configPath: string;
  config: Record<string, unknown>;
  /** Signals the process (SIGTERM by default) and waits; resolves with its exit code or signal name. */
  stop(signal?: NodeJS.Signals): Promise<number | string | null>;
  /** Stops and starts again on the same port, config and data. */
  restart(): Promise<void>;
  /** Output lines across restarts. */
  logs(): string[];
  /** Output lines that parse as JSON objects. */
  jsonLogs(): Array<Record<string, unknown>>;
}

export const ALLOW_ALL = [{ name: 'open', match: ['**'], mode: 'allow' }];

export async function startProxy(options: StartProxyOptions): Promise<Proxy> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first with \`npx tsc -p tsconfig.json\``);
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'e2e-proxy-')));
  const port = await freePort();
  const config: Record<string, unknown> = {
    listen: `127.0.0.1:${port}`,
    storage: { path: './store' },
    database: { path: './portcullis.db' },
    upstreams: options.upstreams.map((u) => ({ tagTtl: '5m', ...u })),
    defaultUpstream: options.defaultUpstream ?? options.upstreams[0]?.name,
    policies: options.policies ?? ALLOW_ALL,
    ...options.extra,
  };
  const configPath = join(dataDir, 'portcullis.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const url = `http://127.0.0.1:${port}`;
  const previous: string[] = [];
  let daemon: Daemon | undefined;

  const start = async (): Promise<void> => {
    if (daemon) previous.push(...daemon.lines());
    daemon = await spawnDaemon(process.execPath, [...(options.nodeArgs ?? []), CLI, 'serve', '--config', configPath], {
      cwd: dataDir,
      env: { ...process.env, ...options.env },
    });
    const current = daemon;
    // A loaded machine may take many seconds to start the workers.
    await waitUntil(`proxy /healthz on ${url}`, async () => {
      if (!current.running()) throw new Error(`proxy exited:\n${current.lines().join('\n')}`);
      return httpAnswers(`${url}/healthz`, 200);
    }, START_TIMEOUT_MS);
  };
  const logs = (): string[] => [...previous, ...(daemon?.lines() ?? [])];

  await start();
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    configPath,
    config,
    stop: async (signal) => (daemon ? daemon.stop(signal ?? 'SIGTERM') : null),
    async restart() {
      await daemon?.stop('SIGTERM');
      await start();
    },
    logs,
    jsonLogs: () =>
      logs().flatMap((line) => {
        try {
          const value: unknown = JSON.parse(line);
          return value && typeof value === 'object' && !Array.isArray(value) ? [value as Record<string, unknown>] : [];
        } catch {
          return [];
        }
      }),
  };
}
