import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { openDatabase } from '../../../src/db/open-database.js';
import type { Database } from '../../../src/db/types.js';
import { replayPolicy } from '../../../src/decide/policy-replay.js';
import { judgeImpact, type ImpactCandidates } from '../../../src/decide/revocation-impact.js';
import { NO_EXCEPTIONS } from '../../../src/policy/exception.js';
import { NO_REVOCATIONS } from '../../../src/policy/revocation.js';
import type { PolicyRule } from '../../../src/policy/types.js';
import type { Evidence } from '../../../src/verify/types.js';

/**
 * Replay and revocation impact judge a scan of thousands of findings for every pull or digest, each taking
 * milliseconds: other requests must still be answered while they do.
 */
const DIGEST = `sha256:${'a'.repeat(64)}`;
const RULES: PolicyRule[] = [{
  name: 'scanned',
  match: ['up/**'],
  mode: 'enforce',
  vulnerabilities: { scans: { signedBy: { anyOf: [{ key: 'acme-scanner' }] }, maxAge: '30d' }, deny: { severity: 'critical' } },
}];
const TRUST = { revocations: NO_REVOCATIONS, exceptions: NO_EXCEPTIONS };

function scannedEvidence(findings: number): Evidence {
  const severities = ['critical', 'high', 'medium', 'low'] as const;
  return {
    subject: DIGEST,
    signatures: [],
    rejected: [],
    attestations: [{
      source: 'att-tag',
      artifactDigest: `sha256:${'b'.repeat(64)}`,
      signer: { type: 'key', key: 'acme-scanner' },
      predicateType: 'https://cosign.sigstore.dev/attestation/vuln/v1',
      statementDigest: `sha256:${'c'.repeat(64)}`,
      report: {
        scan: {
          format: 'trivy',
          scanner: { name: 'trivy', version: '0.58.0' },
          scanFinishedOn: new Date(Date.now() - 86_400_000).toISOString(),
          findings: Array.from({ length: findings }, (_, i) => ({
            id: `CVE-2024-${10_000 + i}`, aliases: [], package: `pkg-${i}`, installedVersion: '1.0', fixedVersion: '1.1', severity: severities[i % 4]!,
          })),
        },
      },
    }],
  } as unknown as Evidence;
}

/**
 * The longest the event loop went without running a 5 ms timer while `work` ran, and how long the work took.
 * Unpaced, the stall is the whole work; paced, a small part of it, however slow a loaded machine makes both.
 */
async function longestStall(work: () => Promise<unknown>): Promise<{ stall: number; total: number }> {
  const started = performance.now();
  let last = started;
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    await work();
    longest = Math.max(longest, performance.now() - last);
  } finally {
    clearInterval(timer);
  }
  return { stall: longest, total: performance.now() - started };
}

describe('judging many scans keeps the event loop answering', () => {
  let dir: string;
  let db: Database;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'judging-pace-'));
    db = await openDatabase({ path: join(dir, 'p.db') });
  });

  afterEach(async () => {
    vi.useRealTimers();
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('replays hundreds of pulls of an image with a 5,000-finding scan without a long stall', async () => {
    await db.cache.putEvidence({ upstream: 'up', repository: 'app', digest: DIGEST, fingerprint: '' }, JSON.stringify(scannedEvidence(5000)), Date.now() + 3_600_000);
    // Pulls two seconds apart, so no judgement is reused from the one before.
    const audit = new AuditLog(db.audit);
    const start = Date.now() - 3_600_000;
    vi.useFakeTimers({ toFake: ['Date'] });
    for (let i = 0; i < 300; i++) {
      vi.setSystemTime(start + i * 2000);
      await audit.record({ kind: 'pull.manifest', upstream: 'up', repository: 'up/app', reference: '1', digest: DIGEST, decision: 'allow', status: 200, evidence: {} });
    }
    vi.useRealTimers();

    let result: Awaited<ReturnType<typeof replayPolicy>> | undefined;
    const { stall, total } = await longestStall(async () => {
      result = await replayPolicy(db, RULES, new Date(start - 1000).toISOString(), new Date().toISOString(), '', TRUST);
    });
    expect(result!.allowToDeny.pulls).toBe(300);
    expect(stall).toBeLessThan(Math.max(250, total / 5));
  }, 120_000);

  it('judges the impact of a revocation on hundreds of scanned digests without a long stall', async () => {
    const shared = scannedEvidence(5000);
    // Each digest has its own evidence (as parsed from the cache), the same findings.
    const candidates: ImpactCandidates = {
      admitted: 300,
      digests: Array.from({ length: 300 }, (_, i) => ({
        upstream: 'up', repository: `up/app-${i}`, digest: DIGEST, pulls: [], count: 1, evidence: { ...shared, attestations: [...shared.attestations] },
      })),
    };
    let denied = 0;
    const { stall, total } = await longestStall(async () => {
      denied = (await judgeImpact(candidates, RULES, TRUST)).wouldBeDenied.length;
    });
    expect(denied).toBe(300);
    expect(stall).toBeLessThan(Math.max(250, total / 5));
  }, 120_000);
});
