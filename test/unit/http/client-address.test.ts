import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { resolveClient, trustedProxies } from '../../../src/http/client-address.js';

const request = (peer: string, forwarded?: string | string[]) =>
  ({ socket: { remoteAddress: peer }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage;

describe('client address', () => {
  const proxies = trustedProxies(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);

  it('is the peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(resolveClient(request('::ffff:198.51.100.4', '203.0.113.9'), undefined)).toBe('198.51.100.4');
    expect(resolveClient(request('198.51.100.4', '203.0.113.9'), proxies)).toBe('198.51.100.4');
  });

  it('is the rightmost hop that is not a trusted proxy', () => {
    expect(resolveClient(request('10.1.1.1', '203.0.113.9'), proxies)).toBe('203.0.113.9');
    expect(resolveClient(request('10.1.1.1', '6.6.6.6, 203.0.113.9, 192.0.2.1'), proxies)).toBe('203.0.113.9');
    expect(resolveClient(request('::ffff:10.1.1.1', '2001:db8::7, fd00::3'), proxies)).toBe('2001:db8::7');
    expect(resolveClient(request('10.1.1.1', '[2001:db8::8]:4711'), proxies)).toBe('2001:db8::8');
    expect(resolveClient(request('10.1.1.1', '203.0.113.9:5123'), proxies)).toBe('203.0.113.9');
  });

  it('stops at the proxy that passed on something that is not an address', () => {
    expect(resolveClient(request('10.1.1.1', '203.0.113.9, unknown, 10.2.2.2'), proxies)).toBe('10.2.2.2');
    expect(resolveClient(request('10.1.1.1', 'garbage'), proxies)).toBe('10.1.1.1');
    expect(resolveClient(request('10.1.1.1', ''), proxies)).toBe('10.1.1.1');
  });

  it('is the leftmost hop when every hop is trusted', () => {
    expect(resolveClient(request('10.1.1.1', '10.9.9.9, 10.2.2.2'), proxies)).toBe('10.9.9.9');
  });
});
