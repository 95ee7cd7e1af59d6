import { describe, expect, it } from 'vitest';
import { failureChainText, networkFailureText } from '../../../src/text/network-failure.js';

const sysError = (code: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { code, ...extra });

describe('network failures in words', () => {
  it('names the host whose DNS lookup failed, from the error or from its message', () => {
    expect(networkFailureText(sysError('ENOTFOUND', 'getaddrinfo ENOTFOUND registry.k8s.io', { hostname: 'registry.k8s.io' }))).toBe('DNS lookup of registry.k8s.io failed (no such host)');
    expect(networkFailureText(sysError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN ghcr.io'))).toBe('DNS lookup of ghcr.io failed (no answer from the DNS server)');
  });

  it('names the address that refused or reset, the first of several tried, or a wrapped cause', () => {
    const refused = sysError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.9:5000', { address: '10.0.0.9', port: 5000 });
    expect(networkFailureText(refused)).toBe('connection to 10.0.0.9:5000 refused');
    expect(networkFailureText(Object.assign(new AggregateError([refused], ''), {}))).toBe('connection to 10.0.0.9:5000 refused');
    expect(networkFailureText(new TypeError('fetch failed', { cause: refused }))).toBe('connection to 10.0.0.9:5000 refused');
    expect(networkFailureText(sysError('CERT_HAS_EXPIRED', 'certificate has expired', { hostname: 'r.test' }))).toBe('TLS certificate of r.test not accepted (CERT_HAS_EXPIRED: certificate has expired)');
    expect(networkFailureText(sysError('EWHATEVER', 'odd'))).toBe('EWHATEVER');
  });

  it('spells out a chain of causes, the network one in words (the trusted-root refresh)', () => {
    const fetchError = sysError('ENOTFOUND', 'request to https://tuf-repo-cdn.sigstore.dev/15.root.json failed, reason: getaddrinfo ENOTFOUND tuf-repo-cdn.sigstore.dev');
    const tuf = new Error('error refreshing TUF metadata', { cause: fetchError });
    expect(failureChainText(tuf)).toBe('error refreshing TUF metadata: DNS lookup of tuf-repo-cdn.sigstore.dev failed (no such host)');
    expect(failureChainText(new Error('plain'))).toBe('plain');
  });
});
