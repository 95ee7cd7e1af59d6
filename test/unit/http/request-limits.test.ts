import { describe, expect, it } from 'vitest';
import { bodyRule } from '../../../src/http/request-limits.js';

describe('body rules per route', () => {
  it('gives whole policies 1 MiB, other admin calls 64 KiB, and everything else no body', () => {
    expect(bodyRule('PUT', '/api/v1/policy').maxBytes).toBe(1024 * 1024);
    expect(bodyRule('POST', '/api/v1/policy/replay').maxBytes).toBe(1024 * 1024);
    expect(bodyRule('POST', '/api/v1/exceptions').maxBytes).toBe(64 * 1024);
    expect(bodyRule('POST', '/api/v1/policy/evaluate').maxBytes).toBe(64 * 1024);
    for (const path of ['/v2/org/app/blobs/uploads/', '/healthz', '/auth/token', '/ui/', '/api/v1']) expect(bodyRule('POST', path).maxBytes).toBe(0);
  });

  it('matches spellings the router also takes, never giving a variant more than its route', () => {
    expect(bodyRule('PUT', '/API/V1/Policy/').maxBytes).toBe(1024 * 1024);
    expect(bodyRule('PUT', '/api/v1/%70olicy').maxBytes).toBe(64 * 1024);
    expect(bodyRule('GET', '/api/v1/policy').maxBytes).toBe(64 * 1024);
  });
});
