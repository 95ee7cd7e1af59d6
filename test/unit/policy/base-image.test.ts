import { describe, expect, it } from 'vitest';
import { evaluateRule } from '../../../src/policy/evaluate.js';
import { validatePolicyRules } from '../../../src/policy/validate.js';
import type { BaseImageFact, PolicyRule } from '../../../src/policy/types.js';
import type { Digest } from '../../../src/oci/digest.js';
import type { Evidence } from '../../../src/verify/types.js';

const NOW = new Date('2025-06-01T00:00:00Z');
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000).toISOString();
const OLD = `sha256:${'1'.repeat(64)}`;
const NEW = `sha256:${'2'.repeat(64)}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const evidence = (mediaType = OCI_MANIFEST): Evidence => ({
  subject: `sha256:${'a'.repeat(64)}` as Digest,
  signatures: [],
  attestations: [],
  rejected: [],
  collectedAt: NOW.toISOString(),
  image: { mediaType, annotations: {}, layers: [] },
});
const rule = (over: Partial<PolicyRule> = {}): PolicyRule => ({ name: 'fresh', match: ['**'], mode: 'enforce', baseImage: { maxBehindDays: 14 }, ...over });
const base = (over: Partial<BaseImageFact> = {}): BaseImageFact => ({ name: 'docker.io/library/alpine:3.20', digest: OLD, currentDigest: OLD, currentCreated: daysAgo(30), ...over });
const judge = (r: PolicyRule, fact: BaseImageFact | undefined, ev = evidence()) => evaluateRule(r, ev, { now: NOW, baseImage: fact });

describe('baseImage evaluation', () => {
  it('serves an image built on the current base', () => {
    const d = judge(rule(), base());
    expect(d.outcome).toBe('allow');
    expect(d.evidence?.baseImage).toEqual(base());
  });

  it('serves an image whose base moved only recently', () => {
    expect(judge(rule(), base({ currentDigest: NEW, currentCreated: daysAgo(13) })).outcome).toBe('allow');
  });

  it('denies an image whose base tag moved to a base built more than maxBehindDays ago, naming the base, both digests and the date', () => {
    const d = judge(rule(), base({ currentDigest: NEW, currentCreated: daysAgo(20) }));
    expect(d.outcome).toBe('deny');
    expect(d.reasons).toEqual([
      `base image docker.io/library/alpine:3.20 moved from ${OLD} to ${NEW}, built 2025-05-12, more than 14 days ago; the image was not rebuilt on its current base`,
    ]);
  });

  it('records the same reason under warn', () => {
    const d = judge(rule({ mode: 'warn' }), base({ currentDigest: NEW, currentCreated: daysAgo(20) }));
    expect(d.outcome).toBe('warn');
    expect(d.reasons[0]).toMatch(/moved from/);
  });

  it('passes an image that names no base unless requireAnnotation', () => {
    expect(judge(rule(), undefined).outcome).toBe('allow');
    const d = judge(rule({ baseImage: { maxBehindDays: 14, requireAnnotation: true } }), undefined);
    expect(d.outcome).toBe('deny');
    expect(d.reasons[0]).toMatch(/does not name its base image \(no org\.opencontainers\.image\.base\.name/);
  });

  it('fails closed when the base cannot be checked', () => {
    expect(judge(rule(), base({ currentDigest: undefined, currentCreated: undefined, error: 'registry "quay.io" is not a configured upstream' })).reasons).toEqual([
      'base image docker.io/library/alpine:3.20 cannot be checked: registry "quay.io" is not a configured upstream',
    ]);
    expect(judge(rule(), base({ digest: undefined })).reasons[0]).toMatch(/does not say which digest it was built on/);
    expect(judge(rule(), base({ currentDigest: NEW, currentCreated: undefined })).reasons[0]).toMatch(/whose build time is unknown/);
  });

  it('leaves an index to its platform manifests, and ignores the base for allow rules', () => {
    const moved = base({ currentDigest: NEW, currentCreated: daysAgo(20) });
    expect(judge(rule(), moved, evidence('application/vnd.oci.image.index.v1+json')).outcome).toBe('allow');
    expect(judge(rule({ mode: 'allow' }), moved).outcome).toBe('allow');
  });
});

describe('baseImage validation', () => {
  it('accepts a rule with only baseImage', () => {
    expect(validatePolicyRules([rule({ baseImage: { maxBehindDays: 0, requireAnnotation: true } })]).errors).toEqual([]);
  });

  it('reports each problem with its path', () => {
    const r = validatePolicyRules([
      rule({ baseImage: { maxBehindDays: -1, requireAnnotation: 'yes', extra: 1 } as never }),
      rule({ name: 'b', baseImage: 14 as never }),
      rule({ name: 'c', baseImage: {} as never }),
    ]);
    expect(r.rules).toBeUndefined();
    expect(r.errors).toEqual([
      { path: 'policies[0].baseImage.extra', message: 'unknown field' },
      { path: 'policies[0].baseImage.maxBehindDays', message: 'must be a number of days (0 or more)' },
      { path: 'policies[0].baseImage.requireAnnotation', message: 'must be true or false' },
      { path: 'policies[1].baseImage', message: 'must be an object with maxBehindDays' },
      { path: 'policies[2].baseImage.maxBehindDays', message: 'must be a number of days (0 or more)' },
    ]);
  });
});
