import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { runCommand, skopeoCopy } from '../helpers/clients.js';
import { haveTools, waitUntil } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, sha256, tempDir, UPSTREAM } from './support.js';

/**
 * `server.workers: 2` as a user runs it: one supervisor and two worker processes on one port, sharing the
 * store and the SQLite database. Requests spread over both; one upstream download per blob whichever worker
 * a client lands on; a policy change answered by one worker holds on the other at once; a killed worker is
 * replaced; SIGTERM drains both.
 */
const ADMIN_TOKEN = 'e2e-admin-2b9d4f7a1c';
const POLICIES = [{ name: 'open', match: ['**'], mode: 'allow' }];

describe.skipIf(!haveTools(['docker-registry', 'skopeo']))('worker processes', () => {
  let registry: Registry;
  let proxy: Proxy;
  let image: PushedImage;

  /** A fresh connection per request, so the supervisor hands each one to the next worker. */
  async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
    const agent = new Agent({ pipelining: 0 });
    try {
      const res = await request(`${proxy.url}${path}`, { headers: { accept: ACCEPT_ALL_MANIFESTS, ...headers }, dispatcher: agent });
      return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
    } finally {
      await agent.close();
    }
  }
  const workerPids = (): Map<number, number> => {
    const pids = new Map<number, number>();
    for (const l of proxy.jsonLogs()) if (l.msg === 'serving' && typeof l.worker === 'number') pids.set(l.worker, l.pid as number);
    return pids;
  };
  const servedBy = (path: string): Set<unknown> =>
    new Set(proxy.jsonLogs().filter((l) => l.msg === 'request' && l.path === path && l.status === 200).map((l) => l.worker));

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 2, layerSize: 6 * 1024 * 1024 });
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: POLICIES,
      dataDir: await tempDir('proxy'),
      extra: {
        server: { workers: 2 },
        auth: { tokens: [{ name: 'alice', role: 'admin', tokenSha256: createHash('sha256').update(ADMIN_TOKEN).digest('hex') }] },
      },
    });
    await waitUntil('both workers serving', async () => workerPids().size === 2);
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('spreads requests over both workers and makes one upstream GET for sixteen clients of one uncached blob', async () => {
    expect((await get(`/v2/${UPSTREAM}/org/app/manifests/1`)).status).toBe(200);
    const layer = image.layers[0]!;
    const path = `/v2/${UPSTREAM}/org/app/blobs/${layer.digest}`;
    const results = await Promise.all(Array.from({ length: 16 }, () => get(path)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(sha256(r.body)).toBe(layer.digest);
    }
    expect(await registry.countRequests(`/blobs/${layer.digest}`, 'GET')).toBe(1);
    expect(servedBy(path)).toEqual(new Set([0, 1]));
    // A scrape counts every worker's requests, whichever worker answers it; gauges say which worker they are.
    for (let i = 0; i < 4; i++) {
      const text = (await get('/metrics')).body.toString();
      const blobs = /^portcullis_http_requests_total\{method="GET",route="blob",status="200"\} (\d+)$/m.exec(text);
      expect(Number(blobs?.[1])).toBe(16);
      expect(text).toMatch(/^portcullis_blob_downloads_in_flight\{worker="0"\} \d+$/m);
      expect(text).toMatch(/^portcullis_blob_downloads_in_flight\{worker="1"\} \d+$/m);
      // Each process's own state per worker; the shared state once, not once per worker.
      expect(text).toMatch(/^process_resident_memory_bytes\{worker="1"\} \d+$/m);
      expect(text.match(/^portcullis_build_info\{.*\} (\d+)$/gm)).toEqual([expect.stringMatching(/ 1$/)]);
      expect(text).toMatch(/^portcullis_policy_active_version \d+$/m);
    }
  });

  it('copies a whole image with skopeo through both workers, digests intact', async () => {
    const dest = await tempDir('copy');
    await skopeoCopy(`${proxy.host}/${UPSTREAM}/org/app:1`, dest);
    for (const l of image.layers) expect(await registry.countRequests(`/blobs/${l.digest}`, 'GET')).toBe(1);
  });

  it('applies a policy change to every worker before the change is answered', async () => {
    const put = await fetch(`${proxy.url}/api/v1/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policies: [{ name: 'closed', match: [`${UPSTREAM}/org/**`], mode: 'deny' }, ...POLICIES] }),
    });
    expect(put.status).toBe(200);
    const after = await Promise.all(Array.from({ length: 8 }, () => get(`/v2/${UPSTREAM}/org/app/manifests/1`)));
    expect(after.map((r) => r.status)).toEqual(Array(8).fill(403));
    expect(servedBy(`/v2/${UPSTREAM}/org/app/manifests/1`).size).toBeGreaterThan(0);
    const denials = proxy.jsonLogs().filter((l) => l.msg === 'request' && l.path === `/v2/${UPSTREAM}/org/app/manifests/1` && l.status === 403);
    expect(new Set(denials.map((l) => l.worker))).toEqual(new Set([0, 1]));
  });

  it('replaces a worker that dies; requests that start once the supervisor has seen it go to a live worker', async () => {
    const before = workerPids();
    process.kill(before.get(1)!, 'SIGKILL');
    await waitUntil('the supervisor sees worker 1 exit', async () =>
      proxy.jsonLogs().some((l) => l.msg === 'worker exited; starting another' && l.slot === 1),
    );
    const during = await Promise.all(Array.from({ length: 6 }, () => get(`/v2/${UPSTREAM}/org/app/manifests/1`)));
    expect(during.map((r) => r.status)).toEqual(Array(6).fill(403));
    await waitUntil('a new worker 1', async () => {
      const now = proxy.jsonLogs().filter((l) => l.msg === 'serving' && l.worker === 1).map((l) => l.pid);
      return now.some((pid) => pid !== before.get(1));
    });
    const after = await Promise.all(Array.from({ length: 6 }, () => get(`/v2/${UPSTREAM}/org/app/manifests/1`)));
    expect(after.map((r) => r.status)).toEqual(Array(6).fill(403));
  });

  it('keeps one intact audit chain across workers, and SIGTERM drains every worker', async () => {
    const pids = [...workerPids().values()];
    expect(await proxy.stop('SIGTERM')).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    const verify = await runCommand(process.execPath, [CLI, 'audit', 'verify', '--config', proxy.configPath]);
    const report = JSON.parse(verify.stdout) as { ok: boolean; events: number };
    expect(report.ok).toBe(true);
    expect(report.events).toBeGreaterThan(30);
  });
});
