import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RefreshingTrust } from '../../../src/verify/trust-refresh.js';
import { loadTrust } from '../../../src/verify/trust-material.js';
import { silentLogger } from '../../../src/logger.js';
import { createTestPki } from '../../helpers/pki/index.js';
import type { TrustConfig } from '../../../src/config/types.js';

const publicGood: TrustConfig = { trustedRoot: 'public-good', keys: {}, verifyTtlMs: 3_600_000 };

describe('RefreshingTrust', () => {
  it('starts from the shipped public-good root when nothing was fetched yet', () => {
    const trust = new RefreshingTrust(publicGood, mkdtempSync(join(tmpdir(), 'trust-')), silentLogger, () => true);
    expect(trust.current().fingerprint).toBe(loadTrust(publicGood).fingerprint);
  });

  it('prefers the root last delivered through TUF over the shipped copy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trust-'));
    const fetched = Buffer.from(JSON.stringify(createTestPki().trustedRoot()));
    writeFileSync(join(dir, 'trusted_root.json'), fetched);
    const trust = new RefreshingTrust(publicGood, dir, silentLogger, () => true);
    expect(trust.current().fingerprint).toBe(loadTrust(publicGood, fetched).fingerprint);
    expect(trust.current().fingerprint).not.toBe(loadTrust(publicGood).fingerprint);
  });

  it('ignores a damaged cached root and keeps the shipped one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trust-'));
    writeFileSync(join(dir, 'trusted_root.json'), '{"not": "a root"');
    const trust = new RefreshingTrust(publicGood, dir, silentLogger, () => true);
    expect(trust.current().fingerprint).toBe(loadTrust(publicGood).fingerprint);
  });

  it('never calls out when no rule needs the root, or when the root is a private file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trust-'));
    expect(await new RefreshingTrust(publicGood, dir, silentLogger, () => false).refresh()).toBe(false);
    const rootFile = join(dir, 'private_root.json');
    writeFileSync(rootFile, JSON.stringify(createTestPki().trustedRoot()));
    const own = new RefreshingTrust({ ...publicGood, trustedRoot: rootFile }, dir, silentLogger, () => true);
    expect(await own.refresh()).toBe(false);
  });
});
