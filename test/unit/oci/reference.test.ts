import { describe, expect, it } from 'vitest';
import { OciError } from '../../../src/oci/errors.js';
import { isRepositoryName, parseReference, splitImage } from '../../../src/oci/reference.js';
import { isDigest, parseDigest, digestTag, sha256 } from '../../../src/oci/digest.js';

describe('repository names', () => {
  it.each(['library/alpine', 'a', 'org/app-x/sub_y', 'a.b/c__d', 'x-----y'])('accepts %s', (n) => {
    expect(isRepositoryName(n)).toBe(true);
  });
  it.each(['', 'Upper/case', '../etc/passwd', 'a//b', '/a', 'a/', 'a..b', '-a', 'a_', 'a'.repeat(256), 'a%2fb'])(
    'rejects %j',
    (n) => expect(isRepositoryName(n)).toBe(false),
  );
});

describe('references', () => {
  it('parses tags and digests', () => {
    expect(parseReference('v1.2.3')).toEqual({ kind: 'tag', tag: 'v1.2.3' });
    const d = sha256('x');
    expect(parseReference(d)).toEqual({ kind: 'digest', digest: d });
  });
  it('rejects malformed digests with DIGEST_INVALID and bad tags with TAG_INVALID', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as OciError).code;
      }
      return 'none';
    };
    expect(codeOf(() => parseReference('sha256:abc'))).toBe('DIGEST_INVALID');
    expect(codeOf(() => parseReference('md5:' + 'a'.repeat(32)))).toBe('DIGEST_INVALID');
    expect(codeOf(() => parseReference('.hidden'))).toBe('TAG_INVALID');
    expect(codeOf(() => parseReference('a'.repeat(129)))).toBe('TAG_INVALID');
    expect(codeOf(() => parseDigest('sha256:' + 'A'.repeat(64)))).toBe('DIGEST_INVALID');
  });
  it('splits image strings', () => {
    const d = sha256('y');
    expect(splitImage('docker.io/acme/app:1.2')).toEqual({ path: 'docker.io/acme/app', tag: '1.2', digest: undefined });
    expect(splitImage(`localhost:5000/app@${d}`)).toEqual({ path: 'localhost:5000/app', tag: undefined, digest: d });
  });
  it('names cosign tags after the digest', () => {
    const d = sha256('z');
    expect(digestTag(d, 'sig')).toBe(`sha256-${d.slice(7)}.sig`);
    expect(isDigest(d)).toBe(true);
  });
});
