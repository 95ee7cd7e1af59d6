import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A deliberately misbehaving registry, for faults the real distribution registry cannot produce on demand:
 * a blob body cut off mid-way, bytes that do not match their digest, a body that drips or stalls (blobs and
 * manifests), and hostile manifests (oversized, deeply nested, invalid JSON, wrong media type) that a real registry would
 * refuse to store. Everything else in the suites runs against the real docker-registry.
 *
 * It serves GET/HEAD /v2/, /v2/<repo>/manifests/<tag|digest> and /v2/<repo>/blobs/<digest> for content
 * added with `addManifest` / `addBlob`; each blob has a `mode` that can be changed between requests.
 */

export type BlobMode =
  | { kind: 'ok' }
  /** Sends `after` bytes with the full Content-Length, then drops the connection. */
  | { kind: 'truncate'; after: number }
  /** Sends `bytes` (same length, other content) instead of the real blob. */
  | { kind: 'wrong-bytes'; bytes: Buffer }
  /** Sends `chunk` bytes every `everyMs`. */
  | { kind: 'drip'; chunk: number; everyMs: number }
  /** Sends headers and `after` bytes, then nothing, keeping the connection open. */
  | { kind: 'stall'; after: number }
  /** Accepts the request and never answers. */
  | { kind: 'hang' };

export interface FaultManifest {
  bytes: Buffer;
  mediaType: string;
  /** Digest announced in Docker-Content-Digest; defaults to the real one. */
  claimedDigest?: string;
  /** Sends the body `chunk` bytes every `everyMs` instead of at once. */
  drip?: { chunk: number; everyMs: number };
}

export interface FaultUpstream {
  url: string;
  /** Blob GETs served per digest (a HEAD is not counted). */
  blobGets: Map<string, number>;
  /** Manifest GETs received per `repo@reference`. */
  manifestGets: Map<string, number>;
  /** Responses begun and not yet finished or closed: how many upstream requests the proxy still holds. */
  inFlight(): number;
  addBlob(bytes: Buffer, mode?: BlobMode): string;
  setMode(digest: string, mode: BlobMode): void;
  /** Under `reference` (a tag) and under its digest. Returns the digest. */
  addManifest(repo: string, reference: string, m: FaultManifest): string;
  close(): Promise<void>;
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function startFaultUpstream(): Promise<FaultUpstream> {
  const blobs = new Map<string, { bytes: Buffer; mode: BlobMode }>();
  const manifests = new Map<string, FaultManifest>();
  const blobGets = new Map<string, number>();
  const manifestGets = new Map<string, number>();
  let inFlight = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    inFlight++;
    res.on('close', () => inFlight--);
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (m) {
      const key = `${m[1]}@${decodeURIComponent(m[2]!)}`;
      const found = manifests.get(key);
      if (!found) return notFound(res, 'MANIFEST_UNKNOWN');
      const headers = {
        'content-type': found.mediaType,
        'content-length': found.bytes.length,
        'docker-content-digest': found.claimedDigest ?? sha256(found.bytes),
      };
      if (req.method === 'HEAD') {
        res.writeHead(200, headers).end();
        return;
      }
      manifestGets.set(key, (manifestGets.get(key) ?? 0) + 1);
      serveBlob(res, found.bytes, found.drip ? { kind: 'drip', ...found.drip } : { kind: 'ok' }, headers, timers);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path);
    if (m) {
      const digest = decodeURIComponent(m[2]!);
      const blob = blobs.get(digest);
      if (!blob) return notFound(res, 'BLOB_UNKNOWN');
      const headers = { 'content-type': 'application/octet-stream', 'content-length': blob.bytes.length, 'docker-content-digest': digest };
      if (req.method === 'HEAD') {
        res.writeHead(200, headers).end();
        return;
      }
      blobGets.set(digest, (blobGets.get(digest) ?? 0) + 1);
      serveBlob(res, blob.bytes, blob.mode, headers, timers);
      return;
    }
    notFound(res, 'NAME_UNKNOWN');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    blobGets,
    manifestGets,
    inFlight: () => inFlight,
    addBlob(bytes, mode = { kind: 'ok' }) {
      const digest = sha256(bytes);
      blobs.set(digest, { bytes, mode });
      return digest;
    },
    setMode(digest, mode) {
      const b = blobs.get(digest);
      if (!b) throw new Error(`no blob ${digest}`);
      b.mode = mode;
    },
    addManifest(repo, reference, manifest) {
      const digest = sha256(manifest.bytes);
      manifests.set(`${repo}@${reference}`, manifest);
      manifests.set(`${repo}@${digest}`, manifest);
      return digest;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function notFound(res: ServerResponse, code: string): void {
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code, message: 'not found' }] }));
}

function serveBlob(
  res: ServerResponse,
  bytes: Buffer,
  mode: BlobMode,
  headers: Record<string, string | number>,
  timers: Set<NodeJS.Timeout>,
): void {
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  switch (mode.kind) {
    case 'ok':
      res.writeHead(200, headers).end(bytes);
      return;
    case 'wrong-bytes':
      res.writeHead(200, headers).end(mode.bytes);
      return;
    case 'truncate':
      res.writeHead(200, headers);
      res.write(bytes.subarray(0, mode.after), () => later(20, () => res.socket?.destroy()));
      return;
    case 'stall':
      res.writeHead(200, headers);
      if (mode.after > 0) res.write(bytes.subarray(0, mode.after));
      return;
    case 'hang':
      return;
    case 'drip': {
      res.writeHead(200, headers);
      let offset = 0;
      const step = () => {
        if (res.destroyed) return;
        const next = Math.min(bytes.length, offset + mode.chunk);
        res.write(bytes.subarray(offset, next));
        offset = next;
        if (offset >= bytes.length) res.end();
        else later(mode.everyMs, step);
      };
      step();
    }
  }
}
