import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

const CLIENT = Symbol('client address');
const VIA_PROXY = Symbol('peer is a trusted proxy');
type Tagged = IncomingMessage & { [CLIENT]?: string; [VIA_PROXY]?: boolean };

/**
 * The proxies (`server.trustedProxies`: addresses and CIDR ranges) whose `X-Forwarded-For` is believed.
 * Undefined when none are configured: then the client is always the TCP peer.
 */
export function trustedProxies(entries: readonly string[] | undefined): BlockList | undefined {
  if (!entries || entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

/** Whether `address` (already normalised) is one of the trusted proxies. */
export function isTrustedProxy(list: BlockList | undefined, address: string): boolean {
  const family = isIP(address);
  return list !== undefined && family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** An address as written by a peer or a proxy: IPv4-mapped IPv6 as IPv4, ports and brackets dropped. */
export function normaliseAddress(raw: string): string {
  let a = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a)) a = a.slice(7);
  return a.toLowerCase();
}

/**
 * Who sent the request. The TCP peer, unless the peer is a trusted proxy: then the rightmost
 * `X-Forwarded-For` hop that is not itself a trusted proxy (each proxy appends the address it saw, so
 * everything left of that hop is the client's own claim). A hop that is not an address ends the walk at
 * the proxy that passed it on. An untrusted peer's `X-Forwarded-For` is never read.
 */
export function resolveClient(req: IncomingMessage, proxies: BlockList | undefined): string {
  const peer = peerOf(req);
  return isTrustedProxy(proxies, peer) ? forwardedClient(req, proxies, peer) : peer;
}

function peerOf(req: IncomingMessage): string {
  return req.socket.remoteAddress === undefined ? 'unknown' : normaliseAddress(req.socket.remoteAddress);
}

/** The client named by `X-Forwarded-For` behind `peer`, a trusted proxy. */
function forwardedClient(req: IncomingMessage, proxies: BlockList | undefined, peer: string): string {
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string' || header === '') return peer;
  const hops = header.split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normaliseAddress(hops[i]!);
    if (isIP(hop) === 0) break;
    client = hop;
    if (!isTrustedProxy(proxies, hop)) break;
  }
  return client;
}

/** Decides the request's client once, at the door; everything that records a client asks clientAddress(). */
export function attachClient(req: IncomingMessage, proxies: BlockList | undefined): void {
  const tagged = req as Tagged;
  if (tagged[CLIENT] !== undefined) return;
  const peer = peerOf(req);
  tagged[VIA_PROXY] = isTrustedProxy(proxies, peer);
  tagged[CLIENT] = tagged[VIA_PROXY] ? forwardedClient(req, proxies, peer) : peer;
}

/** Whether the request's TCP peer is in `server.trustedProxies` (nginx in front), decided at the door. */
export function cameThroughTrustedProxy(req: IncomingMessage): boolean {
  return (req as Tagged)[VIA_PROXY] === true;
}

/** The request's client address, as logged, audited and counted for failed credentials. */
export function clientAddress(req: IncomingMessage): string {
  return (req as Tagged)[CLIENT] ?? resolveClient(req, undefined);
}
