import type { ServerResponse } from 'node:http';
import type { Handoff } from '../store/blob-handoff.js';

/**
 * A request carrying this header is streamed by the proxy, never handed off: nginx's fallback sends it when
 * the file it was pointed at is gone (evicted or purged since the decision), so that retry cannot loop.
 * Anyone may send it; it changes only who moves the bytes, never what is served.
 */
export const NO_HANDOFF_HEADER = 'x-portcullis-no-offload';

/**
 * Answers an allowed blob request whose bytes someone else serves. The digest, type and ETag headers are
 * already set by the route; what is left depends on who serves.
 */
export function sendHandoff(res: ServerResponse, handoff: Handoff): void {
  switch (handoff.kind) {
    case 'internal-redirect':
      // nginx replaces this empty answer with the file at `uri`, honouring the client's Range itself.
      // Length and ranges are stated by nginx for the file it sends (it adds its own Accept-Ranges, so a copy
      // of ours would repeat it); this answer itself is empty and says so, keeping the upstream connection reusable.
      res.removeHeader('Content-Range');
      res.removeHeader('Accept-Ranges');
      res.statusCode = 200;
      res.setHeader('Content-Length', 0);
      res.setHeader('X-Accel-Redirect', handoff.uri);
      res.end();
      return;
    case 'redirect':
      // The client follows to the store without the proxy's credentials (a different host); the store serves ranges.
      res.removeHeader('Content-Range');
      res.statusCode = 307;
      res.setHeader('Location', handoff.url);
      res.setHeader('Content-Length', 0);
      res.end();
      return;
  }
}
