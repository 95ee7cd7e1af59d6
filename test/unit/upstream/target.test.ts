import { describe, expect, it } from 'vitest';
import { resolveTarget } from '../../../src/upstream/target.js';
import type { UpstreamClient } from '../../../src/upstream/upstream-client.js';
import { OciError } from '../../../src/oci/errors.js';
import { globMatches, matchRule } from '../../../src/policy/match.js';

const fake = (name: string) => ({ name }) as UpstreamClient;
const upstreams = new Map([['docker.io', fake('docker.io')], ['ghcr.io', fake('ghcr.io')]]);

describe('resolveTarget: three ways in', () => {
  it('path prefix names the upstream', () => {
    const t = resolveTarget('ghcr.io/org/app', undefined, upstreams, 'docker.io');
    expect([t.upstream.name, t.repository, t.canonical]).toEqual(['ghcr.io', 'org/app', 'ghcr.io/org/app']);
  });
  it('containerd ?ns= names the upstream', () => {
    const t = resolveTarget('org/app', 'ghcr.io', upstreams, 'docker.io');
    expect(t.canonical).toBe('ghcr.io/org/app');
  });
  it('no prefix and no ns means the default upstream, with library/ for Docker Hub', () => {
    expect(resolveTarget('alpine', undefined, upstreams, 'docker.io').canonical).toBe('docker.io/library/alpine');
    expect(resolveTarget('acme/app', undefined, upstreams, 'docker.io').canonical).toBe('docker.io/acme/app');
  });
  it('rejects unknown ns and bad names with OCI errors', () => {
    expect(() => resolveTarget('org/app', 'evil.example', upstreams, 'docker.io')).toThrow(OciError);
    expect(() => resolveTarget('Org/App', undefined, upstreams, 'docker.io')).toThrow(/invalid repository name/);
    expect(() => resolveTarget('app', undefined, upstreams, undefined)).toThrow(/no configured upstream/);
  });
});

describe('policy globs', () => {
  it('* stays within a segment; ** spans segments', () => {
    expect(globMatches('ghcr.io/acme/*', 'ghcr.io/acme/app')).toBe(true);
    expect(globMatches('ghcr.io/acme/*', 'ghcr.io/acme/app/sub')).toBe(false);
    expect(globMatches('docker.io/acme/**', 'docker.io/acme/a/b/c')).toBe(true);
    expect(globMatches('docker.io/acme/**', 'docker.io/acmecorp/a')).toBe(false);
    expect(globMatches('**', 'anything/at/all')).toBe(true);
    expect(globMatches('ghcr.io/a.b/*', 'ghcr.io/aXb/c')).toBe(false);
  });
  it('the first matching rule applies', () => {
    const rules = [
      { name: 'a', match: ['docker.io/acme/**'], mode: 'deny' as const },
      { name: 'b', match: ['**'], mode: 'allow' as const },
    ];
    expect(matchRule(rules, 'docker.io/acme/x')?.name).toBe('a');
    expect(matchRule(rules, 'docker.io/other/x')?.name).toBe('b');
    expect(matchRule([], 'x')).toBeUndefined();
  });
});
