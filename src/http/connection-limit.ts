import type { BlockList, Server, Socket } from 'node:net';
import { isTrustedProxy, normaliseAddress } from './client-address.js';

const REFUSAL_BODY = '{"error":{"code":"TOO_MANY_CONNECTIONS","message":"too many connections from this address; retry later"}}';
const REFUSAL =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Type: application/json\r\n' +
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\n\r\n${REFUSAL_BODY}`;
/** A refused client that never reads its answer still goes within this long. */
const REFUSAL_LINGER_MS = 2_000;

/**
 * Holds each client address (the TCP peer) to `max` open connections, so one address cannot take every
 * socket the process may open. Trusted proxies carry many clients and are not held. A connection over the
 * limit is answered `503` with `Retry-After` (plain HTTP) or closed (TLS, which has not begun) before the
 * server sees it. Applies to the server's 'connection' listeners, so call it once they are in place.
 */
export function limitConnectionsPerClient(server: Server, max: number, proxies: BlockList | undefined, onRefused?: (address: string) => void): void {
  const open = new Map<string, number>();
  const plain = !('setSecureContext' in server);
  // Wrap the server's own listeners (HTTP's parser, or TLS's handshake) rather than run beside them:
  // a refused socket must never reach them.
  const listeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const address = normaliseAddress(socket.remoteAddress ?? 'unknown');
    if (!isTrustedProxy(proxies, address)) {
      const held = open.get(address) ?? 0;
      if (held >= max) {
        onRefused?.(address);
        socket.on('error', () => {});
        if (plain) {
          // Read and drop what it sends: closing with unread data would reset the answer away.
          socket.resume();
          socket.end(REFUSAL);
          setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
        } else {
          socket.destroy();
        }
        return;
      }
      open.set(address, held + 1);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left > 0) open.set(address, left);
        else open.delete(address);
      });
    }
    for (const listener of listeners) listener.call(server, socket);
  });
}
