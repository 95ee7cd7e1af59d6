import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readEnvelopeOffThread } from '../../../src/verify/report-off-thread.js';
import { COSIGN_VULN } from '../../../src/vuln/report/reduce.js';

/** A Trivy report of about `mib` MiB: the pinned report's critical finding repeated over many packages. */
function bigTrivyStatement(subjectHex: string, mib: number): Buffer {
  const report = JSON.parse(readFileSync(join(__dirname, '../../fixtures/vuln/trivy-debian-buster.json'), 'utf8'));
  const one = report.Results[0].Vulnerabilities[1];
  const each = JSON.stringify(one).length;
  const count = Math.ceil((mib * 1024 * 1024) / each);
  report.Results[0].Vulnerabilities = Array.from({ length: count }, (_, i) => ({ ...one, PkgName: `pkg-${i}`, PkgID: `pkg-${i}@1`, PkgIdentifier: { PURL: `pkg:deb/debian/pkg-${i}@1` } }));
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'app', digest: { sha256: subjectHex } }],
    predicateType: COSIGN_VULN,
    predicate: { scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.58.0', version: '0.58.0', result: report }, metadata: { scanFinishedOn: new Date().toISOString() } },
  };
  return Buffer.from(JSON.stringify(statement));
}

function envelope(payload: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ payloadType: 'application/vnd.in-toto+json', payload: payload.toString('base64'), signatures: [{ keyid: '', sig: 'c2ln' }] }));
}

/** The longest the event loop went without running a 5 ms timer while `work` ran. */
async function longestStall(work: () => Promise<unknown>): Promise<{ stall: number; result: unknown }> {
  let last = performance.now();
  let stall = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last);
    last = now;
  }, 5);
  try {
    const result = await work();
    return { stall, result };
  } finally {
    clearInterval(tick);
  }
}

describe('a 20 MiB scan report is read off the event loop', () => {
  const subjectHex = createHash('sha256').update('image').digest('hex');
  const payload = bigTrivyStatement(subjectHex, 21);

  it('reduces it in a worker while the event loop keeps running', async () => {
    expect(payload.length).toBeGreaterThan(20 * 1024 * 1024);
    const blob = envelope(payload);
    const inlineStart = performance.now();
    JSON.parse(payload.toString('utf8'));
    const inline = performance.now() - inlineStart;

    const { stall, result } = await longestStall(() => readEnvelopeOffThread(blob, subjectHex));
    const { env, statement } = result as Awaited<ReturnType<typeof readEnvelopeOffThread>>;
    console.log(`20 MiB report: JSON.parse on the event loop ${inline.toFixed(0)} ms; longest stall while read off-thread ${stall.toFixed(0)} ms`);
    expect(env.payload.equals(payload)).toBe(true);
    expect(statement.predicateType).toBe(COSIGN_VULN);
    expect(statement.predicate).toBeUndefined();
    const scan = statement.report && 'scan' in statement.report ? statement.report.scan : undefined;
    expect(scan?.findings.length).toBeGreaterThan(5000);
    expect(scan?.findings[0]).toMatchObject({ id: 'CVE-2019-18224', severity: 'critical' });
    // Parsing inline stalls for the whole parse; off-thread only copies run on the loop.
    expect(stall).toBeLessThan(Math.max(100, inline / 2));
  }, 60_000);

  it('refuses a malformed or mismatched report with its reason', async () => {
    await expect(readEnvelopeOffThread(Buffer.from('{"payloadType":'), subjectHex)).rejects.toThrow(/DSSE envelope is not JSON/);
    const other = createHash('sha256').update('other').digest('hex');
    await expect(readEnvelopeOffThread(envelope(payload), other)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    const broken = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ digest: { sha256: subjectHex } }], predicateType: COSIGN_VULN, predicate: { scanner: { result: { nope: 1 } } } }));
    const unreadable = await readEnvelopeOffThread(envelope(broken), subjectHex);
    expect(unreadable.statement.report).toBeUndefined();
    expect(unreadable.statement.reportError).toMatch(/^MALFORMED: .*neither a Trivy report/);
  }, 60_000);
});
