import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { requirement } from './tools.js';

/**
 * An S3-compatible store for tests: s3rver (an npm devDependency) started in this process on a free loopback
 * port in a temp dir, or, when PORTCULLIS_TEST_S3_ENDPOINT is set, that endpoint (a MinIO in CI, a real bucket):
 *
 *   PORTCULLIS_TEST_S3_ENDPOINT           e.g. http://127.0.0.1:9000 (required for an external store)
 *   PORTCULLIS_TEST_S3_BUCKET             an existing bucket (required)
 *   PORTCULLIS_TEST_S3_ACCESS_KEY_ID      and PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY (required)
 *   PORTCULLIS_TEST_S3_REGION             default us-east-1
 *   PORTCULLIS_TEST_S3_FORCE_PATH_STYLE   default true ("false" for virtual-hosted buckets)
 *
 * Each suite works under its own random prefix, so a shared bucket is safe. Tests that stop the store (to see
 * the proxy fail closed and recover) need the local one.
 */
export const S3_KEY_ENV = 'PORTCULLIS_S3_ACCESS_KEY_ID';
export const S3_SECRET_ENV = 'PORTCULLIS_S3_SECRET_ACCESS_KEY';

export interface S3Store {
  endpoint: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  external: boolean;
  /** Environment for a proxy process: the credentials under S3_KEY_ENV / S3_SECRET_ENV. */
  env: Record<string, string>;
  /** A `storage.s3` config section under a fresh prefix (or `prefix`). */
  section(extra?: Record<string, unknown>): Record<string, unknown> & { prefix: string };
  client(): S3Client;
  /** Object keys under `prefix`. */
  keys(prefix: string): Promise<string[]>;
  /** The local store stops answering (connections refused) until `start`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

function loadS3rver(): S3rverClass | undefined {
  try {
    return createRequire(import.meta.url)('s3rver') as S3rverClass;
  } catch {
    return undefined;
  }
}

/** True when tests can have an S3 store: an external endpoint, or s3rver installed (else skip, or fail under CI). */
export function haveS3(): boolean {
  return requirement(process.env.PORTCULLIS_TEST_S3_ENDPOINT !== undefined || loadS3rver() !== undefined, 's3rver is not installed (npm ci) and PORTCULLIS_TEST_S3_ENDPOINT is not set');
}

export async function startS3(): Promise<S3Store> {
  const e = process.env;
  const external = e.PORTCULLIS_TEST_S3_ENDPOINT !== undefined;
  const accessKeyId = external ? e.PORTCULLIS_TEST_S3_ACCESS_KEY_ID ?? '' : 'S3RVER';
  const secretAccessKey = external ? e.PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY ?? '' : 'S3RVER';
  const bucket = external ? e.PORTCULLIS_TEST_S3_BUCKET ?? '' : 'portcullis-test';
  const region = e.PORTCULLIS_TEST_S3_REGION ?? 'us-east-1';
  const forcePathStyle = e.PORTCULLIS_TEST_S3_FORCE_PATH_STYLE !== 'false';
  let dir: string | undefined;
  let server: S3rverInstance | undefined;
  let port = 0;
  const start = async () => {
    const S3rver = loadS3rver()!;
    server = new S3rver({ address: '127.0.0.1', port, directory: dir, silent: true, configureBuckets: [{ name: bucket }] });
    ({ port } = await server.run());
  };
  if (!external) {
    dir = await mkdtemp(join(tmpdir(), 's3-'));
    await start();
  }
  const endpoint = external ? e.PORTCULLIS_TEST_S3_ENDPOINT!.replace(/\/+$/, '') : `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  const store: S3Store = {
    endpoint, region, bucket, forcePathStyle, external,
    env: { [S3_KEY_ENV]: accessKeyId, [S3_SECRET_ENV]: secretAccessKey },
    section: (extra = {}) => ({
      endpoint, region, bucket, forcePathStyle, prefix: `t${randomBytes(6).toString('hex')}/`,
      accessKeyIdEnv: S3_KEY_ENV, secretAccessKeyEnv: S3_SECRET_ENV, ...extra,
    }) as Record<string, unknown> & { prefix: string },
    client() {
      const c = new S3Client({ endpoint, region, forcePathStyle, credentials: { accessKeyId, secretAccessKey } });
      clients.push(c);
      return c;
    },
    async keys(prefix) {
      const c = store.client();
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        out.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async stop() {
      if (external) throw new Error('an external S3 store cannot be stopped by the tests');
      const s = server;
      server = undefined;
      if (!s) return;
      const closing = s.close();
      s.httpServer?.closeAllConnections();
      await closing;
    },
    async start() {
      if (external || server) return;
      await start();
    },
    async destroy() {
      for (const c of clients) c.destroy();
      await store.stop().catch(() => {});
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
  return store;
}

/**
 * A loopback front for an S3 endpoint that answers `503 SlowDown` to the first `throttled` requests of every
 * `period` (as a store does when it throttles), and forwards the rest. A real store throttles only under a load
 * tests cannot make, so this fault is made here.
 */
export async function startThrottlingFront(target: string, throttled = 2, period = 3): Promise<{ endpoint: string; slowDowns: () => number; stop(): Promise<void> }> {
  const { createServer, request } = await import('node:http');
  let seen = 0;
  let slowDowns = 0;
  const server = createServer((req, res) => {
    if (seen++ % period < throttled) {
      slowDowns++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const upstream = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    slowDowns: () => slowDowns,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
