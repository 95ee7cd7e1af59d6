import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/notify/cloud-event.js';

/** How the receiver answers the next deliveries. */
export type ReceiverMode = 'ok' | 'fail' | 'hang' | 'redirect';

export interface Received {
  /** The CloudEvent as sent. */
  event: { id: string; type: string; source: string; specversion: string; data: Record<string, unknown> } & Record<string, unknown>;
  headers: IncomingMessage['headers'];
  /** Whether its Portcullis-Signature verified with the receiver's secret. */
  signed: boolean;
}

export interface WebhookReceiver {
  url: string;
  /** Deliveries answered 2xx, in arrival order (duplicates included). */
  accepted: Received[];
  /** Every request that arrived, whatever it was answered. */
  arrivals: number;
  /** Requests that arrived at the redirect's target: a sender that followed a redirect. */
  redirectFollowed: number;
  /** Requests being held open (mode `hang`). */
  held(): number;
  setMode(mode: ReceiverMode): void;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver of webhook deliveries, as an operator would write one: it checks the signature the
 * README documents, answers 2xx only to events it accepts, and can fail (500), hang (never answer) or
 * redirect (to a second endpoint that would accept anything: a proxy that followed it would show there).
 */
export async function startWebhookReceiver(secret: string, opts: { delayMs?: number } = {}): Promise<WebhookReceiver> {
  let mode: ReceiverMode = 'ok';
  const accepted: Received[] = [];
  const hanging = new Set<ServerResponse>();
  let arrivals = 0;
  let redirectedTo = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      arrivals++;
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/elsewhere') {
        res.writeHead(200).end();
        redirectedTo++;
        return;
      }
      if (mode === 'fail') return void res.writeHead(500).end('receiver is down');
      if (mode === 'redirect') return void res.writeHead(302, { location: `${url}/elsewhere` }).end();
      if (mode === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const signed = verifySignature(secret, body, String(req.headers['portcullis-signature'] ?? ''), Math.floor(Date.now() / 1000));
      const answer = () => {
        if (!signed) return void res.writeHead(401).end('bad signature');
        accepted.push({ event: JSON.parse(body) as Received['event'], headers: req.headers, signed });
        res.writeHead(204).end();
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    accepted,
    get arrivals() {
      return arrivals;
    },
    held: () => hanging.size,
    setMode(m) {
      mode = m;
      // Held requests are let go when the receiver recovers, as a restarted receiver would drop them.
      if (m !== 'hang') for (const res of hanging) res.destroy();
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    get redirectFollowed() {
      return redirectedTo;
    },
  };
}
