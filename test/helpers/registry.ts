import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { findTool, freePort, httpAnswers, spawnDaemon, waitUntil, type Daemon } from './tools.js';

/**
 * A real CNCF distribution registry (docker-registry 2.8) on a loopback port, plus plain-HTTP push helpers
 * that build valid images (gzipped tar layers with matching diff_ids, so containerd can unpack them).
 */

export interface RegistryRequest {
  method: string;
  path: string;
  status: number;
}

export interface Registry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  /** Holds config.yml and the registry's filesystem storage (kept across stop/start). */
  dir: string;
  stop(): Promise<void>;
  /** Starts again on the same port and data. */
  start(): Promise<void>;
  /** Requests from the access log, across restarts, once the log has been quiet for a moment. */
  requests(): Promise<RegistryRequest[]>;
  /** How many logged requests have `pathSubstring` in their URI (and `method`, when given). */
  countRequests(pathSubstring: string, method?: string): Promise<number>;
  logs(): string[];
}

export const REGISTRY_BIN = '/usr/bin/docker-registry';

// Combined log format, one line per request: 127.0.0.1 - - [date] "GET /v2/x HTTP/1.1" 200 2 "" "ua"
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]+\] "([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /;

export async function startRegistry(options: { dir?: string } = {}): Promise<Registry> {
  const binary = findTool(REGISTRY_BIN) ?? findTool('docker-registry');
  if (!binary) throw new Error('docker-registry is not installed');
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'e2e-registry-')));
  const port = await freePort();
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: false',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: e2e-not-a-secret',
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${port}`;
  const previous: string[] = [];
  let daemon: Daemon | undefined;

  const start = async (): Promise<void> => {
    if (daemon?.running()) return;
    if (daemon) previous.push(...daemon.lines());
    daemon = await spawnDaemon(binary, ['serve', configPath]);
    const current = daemon;
    await waitUntil(`registry on ${url}`, async () => {
      if (!current.running()) throw new Error(`registry exited:\n${current.lines().join('\n')}`);
      return httpAnswers(`${url}/v2/`, 200);
    });
  };
  const logs = (): string[] => [...previous, ...(daemon?.lines() ?? [])];
  const requests = async (): Promise<RegistryRequest[]> => {
    // Access lines are written after the response; wait until the log stops growing.
    let seen = -1;
    while (seen !== logs().length) {
      seen = logs().length;
      await new Promise((r) => setTimeout(r, 150));
    }
    return logs().flatMap((line) => {
      const m = ACCESS_LINE.exec(line);
      return m ? [{ method: m[1]!, path: m[2]!, status: Number(m[3]) }] : [];
    });
  };

  await start();
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    dir,
    start,
    async stop() {
      await daemon?.stop('SIGTERM');
    },
    requests,
    async countRequests(pathSubstring, method) {
      return (await requests()).filter((r) => r.path.includes(pathSubstring) && (!method || r.method === method))
        .length;
    },
    logs,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Push helpers (plain HTTP against the registry, never through the proxy).

export type MediaTypeStyle = 'oci' | 'docker';

const TYPES = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Monolithic upload: POST opens the session, one PUT with the whole body and ?digest= closes it. */
export async function pushBlob(baseUrl: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const open = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await open.arrayBuffer();
  const location = open.headers.get('location');
  if (open.status !== 202 || !location) throw new Error(`blob upload POST ${repo}: ${open.status}`);
  const target = new URL(location, baseUrl);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: new Uint8Array(bytes),
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`blob upload PUT ${repo}@${digest}: ${put.status} ${text}`);
  return digest;
}

export async function pushManifest(
  baseUrl: string,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: new Uint8Array(bytes),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`manifest PUT ${repo}:${reference}: ${res.status} ${text}`);
  const digest = sha256Digest(bytes);
  const reported = res.headers.get('docker-content-digest');
  if (reported && reported !== digest) throw new Error(`registry reported ${reported} for ${digest}`);
  return digest;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushedImage {
  digest: string;
  /** The exact manifest bytes pushed. */
  manifest: Buffer;
  mediaType: string;
  size: number;
  config: { digest: string; size: number; bytes: Buffer };
  layers: Array<{ digest: string; size: number; bytes: Buffer }>;
  platform: Platform;
}

export interface PushImageOptions {
  /** A layer count (random content), or the exact gzipped layer blobs. Default 1. */
  layers?: number | Buffer[];
  /** Size of the random file inside each generated layer. Default 1 KiB. */
  layerSize?: number;
  created?: string;
  platform?: Platform;
  mediaTypeStyle?: MediaTypeStyle;
  /** Fields of the image config's `config` object (User, ExposedPorts, Entrypoint…), over the default Env. */
  imageConfig?: Record<string, unknown>;
  /** The manifest's annotations. */
  annotations?: Record<string, string>;
}

/** Pushes layers, config and manifest under `tag`. Each generated layer is a gzipped tar holding one file. */
export async function pushImage(
  baseUrl: string,
  repo: string,
  tag: string,
  options: PushImageOptions = {},
): Promise<PushedImage> {
  const style = options.mediaTypeStyle ?? 'oci';
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerBlobs = Array.isArray(options.layers)
    ? options.layers
    : Array.from({ length: options.layers ?? 1 }, (_, i) =>
        gzipSync(tarOf(`layer-${i}.bin`, randomBytes(options.layerSize ?? 1024))),
      );
  const layers = [];
  for (const bytes of layerBlobs) {
    layers.push({ digest: await pushBlob(baseUrl, repo, bytes), size: bytes.length, bytes });
  }
  const created = options.created ?? new Date().toISOString();
  const configBytes = Buffer.from(
    JSON.stringify({
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/bin:/bin'], ...options.imageConfig },
      rootfs: { type: 'layers', diff_ids: layerBlobs.map(diffId) },
      history: layerBlobs.map(() => ({ created, created_by: 'e2e fixture' })),
    }),
  );
  const config = { digest: await pushBlob(baseUrl, repo, configBytes), size: configBytes.length, bytes: configBytes };
  const types = TYPES[style];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: types.layer, digest: l.digest, size: l.size })),
      ...(options.annotations && { annotations: options.annotations }),
    }),
  );
  const digest = await pushManifest(baseUrl, repo, tag, manifest, types.manifest);
  return { digest, manifest, mediaType: types.manifest, size: manifest.length, config, layers, platform };
}

export interface PushedIndex {
  digest: string;
  manifest: Buffer;
  mediaType: string;
}

/** Pushes an index (OCI) or manifest list (docker) over already-pushed images, one entry per child. */
export async function pushIndex(
  baseUrl: string,
  repo: string,
  tag: string,
  children: ReadonlyArray<Pick<PushedImage, 'digest' | 'size' | 'mediaType' | 'platform'>>,
  style: MediaTypeStyle = 'oci',
): Promise<PushedIndex> {
  const mediaType = TYPES[style].index;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      manifests: children.map((c) => ({ mediaType: c.mediaType, digest: c.digest, size: c.size, platform: c.platform })),
    }),
  );
  const digest = await pushManifest(baseUrl, repo, tag, manifest, mediaType);
  return { digest, manifest, mediaType };
}

/** The uncompressed digest containerd checks after unpacking; non-gzip blobs are their own diff. */
function diffId(blob: Buffer): string {
  try {
    return sha256Digest(gunzipSync(blob));
  } catch {
    return sha256Digest(blob);
  }
}

/** A one-file ustar archive. */
export function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (value: string, offset: number, length: number): void => {
    header.write(value, offset, length, 'ascii');
  };
  const octal = (value: number, length: number): string => value.toString(8).padStart(length - 1, '0') + '\0';
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(content.length, 12), 124, 12);
  field(octal(0, 12), 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(octal(sum, 7) + ' ', 148, 8);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}
