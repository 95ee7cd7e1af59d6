import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkPool } from '../../../src/store/chunk-pool.js';
import { FileChunkStream } from '../../../src/store/file-chunk-stream.js';
import { firstChunk } from '../../../src/http/first-chunk.js';
import { writeBody, type Written } from '../../../src/http/write-body.js';

const CHUNK = 64 * 1024;
let dir: string;
let files: { path: string; bytes: Buffer }[];
let server: Server;
let pool: ChunkPool;
const results: Written[] = [];

/** GET /<i>?start=&end= serves file i (or a range) through the pooled stream and the write loop. */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chunks-'));
  files = [];
  for (let i = 0; i < 3; i++) {
    // Larger than loopback's socket buffers, so slow readers push back.
    const bytes = randomBytes(CHUNK * 256 + 12345);
    const path = join(dir, `f${i}`);
    await writeFile(path, bytes);
    files.push({ path, bytes });
  }
  pool = new ChunkPool(CHUNK, 4);
  server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const file = files[Number(url.pathname.slice(1))]!;
    const start = url.searchParams.get('start');
    const range = start === null ? undefined : { start: Number(start), end: Number(url.searchParams.get('end')) };
    const body = new FileChunkStream(file.path, range, pool);
    res.writeHead(200, { 'content-length': range ? range.end - range.start + 1 : file.bytes.length });
    const written = await writeBody(body, res, await firstChunk(body));
    results.push(written);
    if (written.error) res.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Reads the whole answer, pausing now and then so the server meets back-pressure. */
function fetchSlowly(path: string, pauseEvery = 7): Promise<Buffer> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      const parts: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        parts.push(c);
        if (++n % pauseEvery === 0) {
          res.pause();
          setTimeout(() => res.resume(), 10);
        }
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('pooled file bodies', () => {
  it('serve every byte intact to many slow readers at once, with buffers reused between them', async () => {
    const gets = Array.from({ length: 6 }, (_, i) => fetchSlowly(`/${i % 3}`, 4 + i));
    const bodies = await Promise.all(gets);
    bodies.forEach((b, i) => expect(sha(b)).toBe(sha(files[i % 3]!.bytes)));
    // Reuse happened (otherwise the pool proves nothing), bounded by what the pool keeps.
    expect(pool.idle).toBeGreaterThan(0);
    expect(pool.idle).toBeLessThanOrEqual(4);
  });

  it('serve a range exactly', async () => {
    const start = CHUNK - 10;
    const end = CHUNK * 3 + 99;
    const body = await fetchSlowly(`/1?start=${start}&end=${end}`);
    expect(body.equals(files[1]!.bytes.subarray(start, end + 1))).toBe(true);
  });

  it('report a file shorter than the range as an error, not a complete body', async () => {
    results.length = 0;
    const size = files[2]!.bytes.length;
    await fetchSlowly(`/2?start=0&end=${size + 100}`).catch(() => undefined);
    await expect.poll(() => results.find((r) => r.error)).toBeDefined();
    expect(String(results.find((r) => r.error)!.error)).toMatch(/file ended/);
  });

  it('stop reading when the client leaves', async () => {
    results.length = 0;
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/0' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.end();
    });
    await expect.poll(() => results.find((r) => r.clientLeft)).toBeDefined();
    expect(results.find((r) => r.clientLeft)!.sent).toBeLessThan(files[0]!.bytes.length);
  });
});
