// A few calls of the OCI distribution API over plain HTTP, for the offline walkthrough (Node's fetch only).
import { createHash } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

export function sha256(bytes) {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `127.0.0.1:5001/demo/hello:1` → { base: 'http://127.0.0.1:5001', repository: 'demo/hello', tag: '1' } */
export function parseImage(ref) {
  const slash = ref.indexOf('/');
  const colon = ref.lastIndexOf(':');
  if (slash < 0 || colon < slash) throw new Error(`expected HOST:PORT/REPOSITORY:TAG, got ${ref}`);
  return { host: ref.slice(0, slash), base: `http://${ref.slice(0, slash)}`, repository: ref.slice(slash + 1, colon), tag: ref.slice(colon + 1) };
}

export async function pushBlob(base, repository, bytes) {
  const digest = sha256(bytes);
  const start = await fetch(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`starting an upload answered ${start.status}`);
  const location = new URL(start.headers.get('location'), base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`uploading ${digest} answered ${put.status}`);
  return { mediaType: 'application/octet-stream', digest, size: bytes.length };
}

export async function pushManifest(base, repository, reference, manifest) {
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await fetch(`${base}/v2/${repository}/manifests/${reference}`, { method: 'PUT', body, headers: { 'Content-Type': manifest.mediaType } });
  if (res.status !== 201) throw new Error(`pushing the manifest answered ${res.status}: ${await res.text()}`);
  return sha256(body);
}

export async function manifestDigest(base, repository, reference) {
  const res = await fetch(`${base}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { Accept: `${OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json` },
  });
  const digest = res.headers.get('docker-content-digest');
  if (res.status !== 200 || !digest) throw new Error(`${repository}:${reference} answered ${res.status}`);
  return digest;
}
