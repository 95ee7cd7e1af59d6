import { NO_HANDOFF_HEADER, sendHandoff } from './handoff-response.js';
import { firstChunk } from './first-chunk.js';
import { writeBody } from './write-body.js';
import type { Logger } from '../logger.js';
import { OciError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import { parseReference, type Reference } from '../oci/reference.js';
import { refusalEvent } from './refusal-event.js';
import { assertRepositoryInScope } from './repository-scope.js';
import type { PullService, RequestInfo } from '../pull/pull-service.js';
import type { ListingService } from '../pull/listing-service.js';
import { resolveTarget, type Target } from '../upstream/target.js';
import type { UpstreamClient } from '../upstream/upstream-client.js';
import type { Metrics } from '../metrics.js';
import { sendError } from './send-error.js';
import type { RefusalAudit } from '../audit/refusal-audit.js';
import { pathOf, sendJson, type HttpRequest, type HttpResponse } from './plain.js';
import { cameThroughTrustedProxy, clientAddress } from './client-address.js';

const MANIFEST_RE = /^\/(.+)\/manifests\/([^/]+)$/;
const UPLOAD_RE = /^\/(.+)\/blobs\/uploads(\/.*)?$/;
const BLOB_RE = /^\/(.+)\/blobs\/([^/]+)$/;
const TAGS_RE = /^\/(.+)\/tags\/list$/;
const REFERRERS_RE = /^\/(.+)\/referrers\/([^/]+)$/;

export interface V2Deps {
  pull: PullService;
  refusals: RefusalAudit;
  listing: ListingService;
  upstreams: ReadonlyMap<string, UpstreamClient>;
  defaultUpstream: string | undefined;
  metrics: Metrics;
  log: Logger;
}

/**
 * The OCI distribution API, pull side, for every path under /v2. Plain Node request and response: this is
 * the hot path, and one handler parses the path so names may hold slashes.
 */
export function v2Handler(d: V2Deps) {
  return async (req: HttpRequest, res: HttpResponse): Promise<void> => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    let route = 'other';
    // Until the request reaches the pull or listing service (which audit what they decide), a refusal is
    // audited here: invalid names and references, unknown namespaces, unsupported methods and paths.
    let judged = false;
    try {
      const path = pathOf(req).slice('/v2'.length);
      const url = req.url ?? '';
      const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
      const param = (name: string): string | undefined => query.get(name) ?? undefined;
      if (path === '/' || path === '') {
        route = 'base';
        if (req.method !== 'GET' && req.method !== 'HEAD') throw unsupported(req);
        res.statusCode = 200;
        res.setHeader('Content-Type', 'application/json');
        res.end(req.method === 'HEAD' ? undefined : '{}');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw unsupported(req);
      const info: RequestInfo = {
        requestId: res.locals.requestId as string,
        client: clientAddress(req),
        user: (res.locals.user as string | undefined) ?? null,
        noHandoff: req.headers[NO_HANDOFF_HEADER] !== undefined,
        viaTrustedProxy: cameThroughTrustedProxy(req),
      };
      const ns = param('ns');
      const target = (name: string): Target => {
        const t = resolveTarget(name, ns, d.upstreams, d.defaultUpstream);
        assertRepositoryInScope(res, t.canonical);
        // Distribution spec, "Registry Proxying": a registry that scopes a request by `ns` names it back.
        if (ns) res.setHeader('OCI-Namespace', t.upstream.name);
        return t;
      };
      let m: RegExpExecArray | null;
      if ((m = MANIFEST_RE.exec(path))) {
        route = 'manifest';
        const t = target(m[1]!);
        const raw = decodeURIComponentSafe(m[2]!);
        let ref: Reference;
        try {
          ref = manifestReference(raw);
        } catch (err) {
          // A refused name is refused as such (403, audited by the pull service) before a bad reference.
          judged = true;
          await d.pull.admitName(d.pull.baseEvent(info, t, 'pull.manifest', raw), t);
          judged = false;
          throw err;
        }
        judged = true; // the pull service decides the name first, then the manifest, and audits both
        const out = await d.pull.manifest(info, t, ref, req.headers.accept, req.method === 'HEAD', clientGone(res));
        res.statusCode = 200;
        res.setHeader('Content-Type', out.mediaType);
        res.setHeader('Docker-Content-Digest', out.digest);
        res.setHeader('ETag', `"${out.digest}"`);
        res.setHeader('Content-Length', out.bytes.length);
        if (req.method === 'HEAD') res.end();
        else {
          d.metrics.bytesServed.inc({ kind: 'manifest' }, out.bytes.length);
          res.end(out.bytes);
        }
        return;
      }
      if (UPLOAD_RE.test(path)) throw unsupported(req);
      if ((m = BLOB_RE.exec(path))) {
        route = 'blob';
        const t = target(m[1]!);
        const digest = parseDigest(decodeURIComponentSafe(m[2]!));
        judged = true;
        const out = await d.pull.blob(info, t, digest, req.method === 'HEAD', req.headers.range);
        res.setHeader('Docker-Content-Digest', out.digest);
        res.setHeader('Accept-Ranges', 'bytes');
        if (out.status === 416) {
          res.setHeader('Content-Range', `bytes */${out.size}`);
          throw new OciError('RANGE_INVALID', `range not satisfiable for a blob of ${out.size} bytes`);
        }
        res.statusCode = out.status;
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('ETag', `"${out.digest}"`);
        if (out.range) res.setHeader('Content-Range', `bytes ${out.range.start}-${out.range.end}/${out.size}`);
        res.setHeader('Content-Length', out.range ? out.range.end - out.range.start + 1 : out.size);
        if (out.handoff) {
          sendHandoff(res, out.handoff);
          return;
        }
        if (!out.body) {
          res.end();
          return;
        }
        let first: Buffer | null;
        try {
          first = await firstChunk(out.body);
        } catch (err) {
          // Nothing is sent yet: answer with the error rather than a connection closed without an answer.
          for (const header of ['Content-Type', 'ETag', 'Content-Range', 'Content-Length']) res.removeHeader(header);
          out.body.destroy();
          throw err instanceof OciError ? err : new OciError('UPSTREAM_UNAVAILABLE', `the blob broke off before its first byte: ${(err as Error).message}`);
        }
        const { sent, clientLeft, error } = await writeBody(out.body, res, first);
        d.metrics.bytesServed.inc({ kind: 'blob' }, sent);
        if (error) {
          // Headers are gone: the only honest signal left is a broken connection (never a short "complete" body).
          res.destroy();
          d.log.warn('blob stream ended early', { requestId: info.requestId, digest, sent, error: String(error) });
        } else if (clientLeft) {
          d.log.debug('client left during a blob', { requestId: info.requestId, digest, sent });
        }
        return;
      }
      if ((m = TAGS_RE.exec(path))) {
        route = 'tags';
        const t = target(m[1]!);
        const n = param('n');
        const last = param('last');
        judged = true;
        const list = await d.listing.tags(info, t, n, last, m[1]!);
        if (list.next) {
          const q = new URLSearchParams();
          if (list.next.n) q.set('n', list.next.n);
          q.set('last', list.next.last);
          if (ns) q.set('ns', ns);
          res.setHeader('Link', `</v2/${m[1]}/tags/list?${q.toString()}>; rel="next"`);
        }
        sendJson(res, 200, list.body);
        return;
      }
      if ((m = REFERRERS_RE.exec(path))) {
        route = 'referrers';
        const t = target(m[1]!);
        const digest = parseDigest(decodeURIComponentSafe(m[2]!));
        const artifactType = param('artifactType');
        judged = true;
        const out = await d.listing.referrers(info, t, digest, artifactType);
        res.statusCode = 200;
        res.setHeader('Content-Type', 'application/vnd.oci.image.index.v1+json');
        if (out.filtered) res.setHeader('OCI-Filters-Applied', 'artifactType');
        res.setHeader('Content-Length', out.bytes.length);
        res.end(req.method === 'HEAD' ? undefined : out.bytes);
        return;
      }
      if (path === '/_catalog') throw new OciError('UNSUPPORTED', 'the catalog API is not offered by this proxy');
      throw new OciError('NAME_INVALID', 'unrecognised /v2 path');
    } catch (err) {
      if (!judged && err instanceof OciError) d.refusals.record(refusalEvent(req, res, err));
      sendError(req, res, err, d.log);
    } finally {
      d.metrics.requests.inc({ route, method: req.method ?? '', status: String(res.statusCode) });
    }
  };
}

/**
 * A manifest reference: a digest, or a tag. A string that is neither cannot name a manifest, so it is
 * unknown (404), as the distribution spec's conformance suite expects; a malformed digest stays a 400.
 */
function manifestReference(raw: string): Reference {
  try {
    return parseReference(raw);
  } catch (err) {
    if (err instanceof OciError && err.code === 'TAG_INVALID') throw new OciError('MANIFEST_UNKNOWN', `${err.message}: no manifest has this reference`);
    throw err;
  }
}

/** Aborts when the connection closes before the answer was sent. */
function clientGone(res: HttpResponse): AbortSignal {
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) gone.abort(new OciError('UPSTREAM_UNAVAILABLE', 'the client disconnected before the answer was ready'));
  });
  return gone.signal;
}

function unsupported(req: HttpRequest): OciError {
  return new OciError('UNSUPPORTED', `${req.method} is not supported: this is a read-only pull-through proxy`);
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new OciError('NAME_INVALID', 'malformed percent-encoding in path');
  }
}
