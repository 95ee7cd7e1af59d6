import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCopiedBlob, readCopiedImage, runCommand, startContainerd, writeHostsToml, type Containerd } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveS3, startS3, type S3Store } from '../helpers/s3.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, bodyBytes, removeTempDirs, tempDir, UPSTREAM } from './support.js';

const MiB = 1024 * 1024;
const PULLER = 'pam';
const PULLER_TOKEN = 'e2e-puller-7d2f9c41ab';
const skip = !haveTools(['docker-registry', 'skopeo']) || !haveS3();

/**
 * `storage.s3.redirect`: an allowed, cached layer is answered with a 307 to a presigned URL of the bucket, and
 * real clients follow it without the proxy's credentials (the store refuses a request that carries both its
 * presigned signature and an Authorization header, so a pull that forwarded them would fail). The store is
 * addressed as `localhost` and the proxy as 127.0.0.1: another host, as in a real deployment.
 */
describe.skipIf(skip)('redirects to presigned URLs of an S3 store', () => {
  let s3: S3Store;
  let registry: Registry;
  let proxy: Proxy;
  let app: PushedImage;
  let closed: PushedImage;
  let endpoint: string;
  const auth = { authorization: `Basic ${Buffer.from(`${PULLER}:${PULLER_TOKEN}`).toString('base64')}` };

  beforeAll(async () => {
    s3 = await startS3();
    registry = await startRegistry({ dir: await tempDir('registry') });
    app = await pushImage(registry.url, 'org/app', '1', { layers: 2, layerSize: 3 * MiB });
    closed = await pushImage(registry.url, 'org/closed', '1', { layers: 1, layerSize: 2 * MiB });
    endpoint = s3.external ? s3.endpoint : s3.endpoint.replace('127.0.0.1', 'localhost');
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      policies: [{ name: 'closed', match: [`${UPSTREAM}/org/closed`], mode: 'deny' }, { name: 'open', match: ['**'], mode: 'allow' }],
      dataDir: await tempDir('proxy'),
      env: { ...s3.env, E2E_PULLER_TOKEN: PULLER_TOKEN },
      extra: {
        storage: { path: './spool', s3: s3.section({ endpoint, redirect: true }) },
        auth: { pull: 'token', tokens: [{ name: PULLER, role: 'puller', tokenEnv: 'E2E_PULLER_TOKEN' }] },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await s3?.destroy();
    await removeTempDirs();
  });

  const skopeoCopy = async (dest: string) =>
    runCommand('skopeo', [
      '--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', `${PULLER}:${PULLER_TOKEN}`,
      `docker://${proxy.host}/${UPSTREAM}/org/app:1`, `oci:${dest}`,
    ]);
  const get = (path: string, headers: Record<string, string> = {}) =>
    request(`${proxy.url}/v2/${UPSTREAM}/${path}`, { headers: { ...auth, accept: ACCEPT_ALL_MANIFESTS, ...headers } });

  async function copyAndCheck(): Promise<void> {
    const dest = await tempDir('copy');
    await skopeoCopy(dest);
    const copied = await readCopiedImage(dest);
    expect(copied.manifestBytes.equals(app.manifest)).toBe(true);
    for (const blob of [app.config, ...app.layers]) expect((await readCopiedBlob(dest, blob.digest)).equals(blob.bytes)).toBe(true);
  }

  it('skopeo gets byte-identical layers, the second time from the store by redirect, sending it no credentials', async () => {
    await copyAndCheck();
    const layer = app.layers[0]!;
    const res = await get(`org/app/blobs/${layer.digest}`);
    await res.body.dump();
    expect(res.statusCode).toBe(307);
    await copyAndCheck();
    for (const blob of app.layers) expect(await registry.countRequests(`/blobs/${blob.digest}`, 'GET')).toBe(1);
  });

  it('answers a cached layer with a 307 to a short-lived presigned URL that serves the layer and its ranges', async () => {
    const layer = app.layers[1]!;
    const res = await get(`org/app/blobs/${layer.digest}`);
    await res.body.dump();
    expect(res.statusCode).toBe(307);
    expect(res.headers['docker-content-digest']).toBe(layer.digest);
    const location = String(res.headers.location);
    expect(location.startsWith(`${endpoint}/`)).toBe(true);
    expect(location).toContain('X-Amz-Expires=300');
    expect(location).not.toContain(PULLER_TOKEN);
    // What a client that forwarded the proxy's credentials would get: the store refuses two kinds of auth at once.
    const forwarded = await fetch(location, { headers: auth });
    await forwarded.arrayBuffer();
    expect(forwarded.status).toBe(400);
    const whole = await fetch(location);
    expect(whole.status).toBe(200);
    expect((await bodyBytes(whole)).equals(layer.bytes)).toBe(true);

    const ranged = await get(`org/app/blobs/${layer.digest}`, { range: 'bytes=1000-1999' });
    await ranged.body.dump();
    expect(ranged.statusCode).toBe(307);
    const part = await fetch(String(ranged.headers.location), { headers: { range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect((await bodyBytes(part)).equals(layer.bytes.subarray(1000, 2000))).toBe(true);
  });

  it('keeps small blobs, HEAD requests, denied and unknown blobs with the proxy', async () => {
    const config = await get(`org/app/blobs/${app.config.digest}`);
    expect(config.statusCode).toBe(200);
    expect(Buffer.from(await config.body.arrayBuffer()).equals(app.config.bytes)).toBe(true);
    const head = await request(`${proxy.url}/v2/${UPSTREAM}/org/app/blobs/${app.layers[0]!.digest}`, { method: 'HEAD', headers: auth });
    await head.body.dump();
    expect(head.statusCode).toBe(200);
    const denied = await get(`org/closed/blobs/${closed.layers[0]!.digest}`);
    await denied.body.dump();
    expect(denied.statusCode).toBe(403);
    const unknown = await get(`org/app/blobs/sha256:${createHash('sha256').update('nothing').digest('hex')}`);
    await unknown.body.dump();
    expect(unknown.statusCode).toBe(404);
    const anonymous = await request(`${proxy.url}/v2/${UPSTREAM}/org/app/blobs/${app.layers[0]!.digest}`);
    await anonymous.body.dump();
    expect(anonymous.statusCode).toBe(401);
  });

  it.skipIf(!haveTools(['containerd', 'ctr']) || !haveRoot())('containerd follows the redirect as a mirror client', async () => {
    let containerd: Containerd | undefined;
    try {
      containerd = await startContainerd({ dir: await tempDir('containerd') });
      const hostsDir = await writeHostsToml(join(containerd.dir, 'hosts.d'), UPSTREAM, proxy.url);
      await runCommand('ctr', [
        '--address', containerd.socket, '--namespace', 'e2e', 'images', 'pull', '--hosts-dir', hostsDir,
        '--user', `${PULLER}:${PULLER_TOKEN}`, `${UPSTREAM}/org/app:1`,
      ]);
    } finally {
      await containerd?.stop();
    }
  }, 120_000);

  it.skipIf(!haveTools(['podman']) || !haveRoot())('podman follows the redirect', async () => {
    const root = await tempDir('podman');
    const podman = ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none'];
    await runCommand('podman', [...podman, 'pull', '--tls-verify=false', '--creds', `${PULLER}:${PULLER_TOKEN}`, `${proxy.host}/${UPSTREAM}/org/app:1`]);
    const { stdout } = await runCommand('podman', [...podman, 'image', 'inspect', '--format', '{{.Digest}}', `${proxy.host}/${UPSTREAM}/org/app:1`]);
    expect(stdout.trim()).toBe(app.digest);
  }, 120_000);
});
