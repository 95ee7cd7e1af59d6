import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createApp, type App } from '../../../src/app.js';
import { loadConfigFile } from '../../../src/config/load.js';
import { silentLogger } from '../../../src/logger.js';
import { CLI } from '../../helpers/proxy.js';

/** Shared set-up for the admin and audit suites: a config file with one token per role, and the app. */

export const TOKENS = {
  alice: { role: 'admin', secret: 'alice-admin-0c1e9a5d7f' },
  audrey: { role: 'auditor', secret: 'audrey-auditor-5b2f8e1c' },
  ci: { role: 'puller', secret: 'ci-puller-9d4a7b3e6f' },
} as const;

export type TokenName = keyof typeof TOKENS;

export const bearer = (name: TokenName) => `Bearer ${TOKENS[name].secret}`;
export const basic = (name: string, secret: string) => `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A P-256 public key for rules that require a key signature no fixture image carries. */
export const UNUSED_KEY_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

export interface Workspace {
  dir: string;
  configPath: string;
  write(config: Record<string, unknown>): Promise<void>;
  open(): Promise<App>;
  remove(): Promise<void>;
}

export const ALLOW_ALL = [{ name: 'open', match: ['**'], mode: 'allow' }];

/** Base config: a store and database in `dir`, one token per role, and the given overrides. */
export function baseConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    storage: { path: './store' },
    database: { path: './portcullis.db' },
    upstreams: [{ name: 'upstream.test', url: 'http://127.0.0.1:9', retries: 0, connectTimeout: '1s' }],
    defaultUpstream: 'upstream.test',
    policies: ALLOW_ALL,
    trust: { keys: { release: UNUSED_KEY_PEM } },
    auth: {
      pull: 'anonymous',
      tokens: Object.entries(TOKENS).map(([name, t]) => ({ name, role: t.role, tokenSha256: sha256(t.secret) })),
    },
    ...overrides,
  };
}

export async function workspace(prefix: string): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), `admin-${prefix}-`));
  const configPath = join(dir, 'portcullis.json');
  const apps: App[] = [];
  return {
    dir,
    configPath,
    write: (config) => writeFile(configPath, JSON.stringify(config, null, 2)),
    async open() {
      const app = await createApp(loadConfigFile(configPath), { log: silentLogger });
      apps.push(app);
      return app;
    },
    async remove() {
      await Promise.all(apps.map((a) => a.close().catch(() => {})));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const run = promisify(execFile);

/** Runs the built CLI (with `env`, default this process's); resolves with its exit code and output (never throws on a non-zero exit). */
export async function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
