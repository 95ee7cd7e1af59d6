// A docker-like pull client: manifest, then config, then layers three at a time. Bodies are counted,
// not kept; every size is checked so a short body counts as a failure.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';

export const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export function createAgent(connections = 256) {
  return new Agent({ connections, keepAliveTimeout: 10_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
}

/** GET url; returns the byte count (and sha256 when `hash`). Throws on a non-2xx or a short body. */
export async function get(agent, url, { accept, hash = false, expectSize, onRequest } = {}) {
  onRequest?.();
  let res = await request(url, { dispatcher: agent, headers: accept ? { accept } : {}, headersTimeout: 60_000 });
  // A redirect to object storage is followed as docker does, to another host and without the proxy's headers.
  if (res.statusCode === 307 || res.statusCode === 302) {
    const location = new URL(res.headers.location, url).toString();
    await res.body.dump();
    onRequest?.();
    res = await request(location, { dispatcher: agent, headersTimeout: 60_000 });
  }
  if (res.statusCode !== 200) {
    const text = await res.body.text().catch(() => '');
    throw new Error(`GET ${url}: ${res.statusCode} ${text.slice(0, 200)}`);
  }
  const h = hash ? createHash('sha256') : undefined;
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += chunk.length;
    h?.update(chunk);
  }
  if (expectSize !== undefined && bytes !== expectSize) throw new Error(`GET ${url}: ${bytes} of ${expectSize} bytes`);
  return { bytes, digest: h ? `sha256:${h.digest('hex')}` : undefined, headers: res.headers };
}

async function getBuffer(agent, url, accept, onRequest) {
  onRequest?.();
  const res = await request(url, { dispatcher: agent, headers: { accept } });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${body.toString('utf8', 0, 200)}`);
  return body;
}

/**
 * Pulls `repo:ref` from `base` the way docker does. `verify` hashes every blob against its digest.
 * Returns bytes received and the number of HTTP requests made.
 */
export async function pullImage(agent, base, repo, ref, { verify = false, parallel = 3, onRequest } = {}) {
  let requests = 0;
  const count = () => {
    requests++;
    onRequest?.();
  };
  const manifestBytes = await getBuffer(agent, `${base}/v2/${repo}/manifests/${ref}`, ACCEPT, count);
  const manifest = JSON.parse(manifestBytes.toString('utf8'));
  let total = manifestBytes.length;
  const fetchBlob = async (d) => {
    const r = await get(agent, `${base}/v2/${repo}/blobs/${d.digest}`, { hash: verify, expectSize: d.size, onRequest: count });
    if (verify && r.digest !== d.digest) throw new Error(`blob ${d.digest} arrived as ${r.digest}`);
    total += r.bytes;
  };
  await fetchBlob(manifest.config);
  const queue = [...manifest.layers];
  await Promise.all(
    Array.from({ length: Math.min(parallel, queue.length) }, async () => {
      for (let d = queue.shift(); d; d = queue.shift()) await fetchBlob(d);
    }),
  );
  return { bytes: total, requests };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export async function timed(fn) {
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}
