import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, requirement } from './tools.js';

/**
 * A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, the server on a free loopback port
 * with its socket in that dir, run as the `postgres` OS user when the tests run as root (the server refuses
 * to run as root). Missing PostgreSQL skips with a notice, or fails under CI, as for other tools.
 *
 *   const skip = !havePostgres();
 *   describe.skipIf(skip)('...', () => { let pgc: PgCluster; beforeAll(async () => (pgc = await startPostgres())); ... });
 */

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin dir (Debian: /usr/lib/postgresql/<major>/bin), if any. */
export function postgresBin(): string | undefined {
  if (!existsSync(ROOT)) return undefined;
  const majors = readdirSync(ROOT).filter((d) => /^\d+$/.test(d) && existsSync(join(ROOT, d, 'bin', 'postgres')));
  majors.sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(ROOT, majors[0], 'bin') : undefined;
}

/** True when a PostgreSQL server can be started; otherwise prints a notice (or throws under CI). */
export function havePostgres(): boolean {
  return requirement(postgresBin() !== undefined, 'PostgreSQL is not installed (Debian package postgresql)');
}

export interface PgCluster {
  /** Connection URL of the `postgres` database. */
  url: string;
  port: number;
  dir: string;
  /** A fresh, empty database in this cluster; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown: connections are cut, committed data stays). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops the server and removes its files. */
  destroy(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

async function asPostgres(command: string, args: string[]): Promise<void> {
  if (asRoot) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}

let databases = 0;

export async function startPostgres(): Promise<PgCluster> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'pg-test-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  await asPostgres(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = () => asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  const stop = () => asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let running = true;
  return {
    url,
    port,
    dir,
    async createDatabase(name = `t${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${name}"`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await stop().catch(() => {});
      running = false;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
