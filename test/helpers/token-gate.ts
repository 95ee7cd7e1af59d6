import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Docker token auth in front of a real registry, as Docker Hub does it: a request without a bearer token for
 * its repository's pull scope gets a 401 challenge naming the token service (served here too); one with a
 * token is forwarded to the registry, body streamed. Every request is logged in order, so a test can count
 * the upstream round trips a pull costs.
 */

export interface GateRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  status: number;
  /** `token` for the token service, else `registry`. */
  kind: 'token' | 'registry';
  /** For token requests, the scope asked for. */
  scope?: string;
}

export interface TokenGate {
  url: string;
  /** Requests whose response has completed. */
  requests(): GateRequest[];
  /** Waits until no request is open and none has arrived for a moment, then returns the log. */
  quiet(): Promise<GateRequest[]>;
  reset(): void;
  stop(): Promise<void>;
}

export async function startTokenGate(registryUrl: string, options: { expiresIn?: number } = {}): Promise<TokenGate> {
  const upstream = new URL(registryUrl);
  const issued = new Map<string, string>();
  let log: GateRequest[] = [];
  let next = 0;
  let url = '';
  let open = 0;
  let lastArrival = 0;

  const done = (req: IncomingMessage, entry: Omit<GateRequest, 'method' | 'path'>) => log.push({ method: req.method!, path: req.url!, ...entry });

  const server: Server = createServer((req, res) => {
    open++;
    lastArrival = Date.now();
    res.on('close', () => open--);
    const parsed = new URL(req.url!, 'http://gate.invalid');
    if (parsed.pathname === '/token') {
      const scope = parsed.searchParams.get('scope') ?? '';
      const token = `tok-${++next}`;
      issued.set(token, scope);
      res.on('finish', () => done(req, { status: 200, kind: 'token', scope }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: options.expiresIn ?? 300 }));
      return;
    }
    const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|referrers|tags)\//.exec(parsed.pathname)?.[1];
    const scope = repo ? `repository:${repo}:pull` : undefined;
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !scope || issued.get(token) !== scope) {
      const challenge = `Bearer realm="${url}/token",service="gate"${scope ? `,scope="${scope}"` : ''}`;
      res.on('finish', () => done(req, { status: 401, kind: 'registry' }));
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}');
      return;
    }
    const { authorization: _token, ...headers } = req.headers;
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      res.on('close', () => done(req, { status: answer.statusCode!, kind: 'registry' }));
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests: () => [...log],
    async quiet() {
      const deadline = Date.now() + 15_000;
      while (open > 0 || Date.now() - lastArrival < 300) {
        if (Date.now() > deadline) throw new Error(`token gate still has ${open} open requests`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return [...log];
    },
    reset() {
      log = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
