// `npm run build && node bench/db-queries.mjs`: the database work of a warm blob request on SQLite, alone:
// N audit appends (one event per transaction, as a lone request makes) and N cache lookups (a tag, a
// manifest, the blob's links, the evidence). Prints ops/s of each (wall clock) and the CPU microseconds one
// op costs (user + system: steadier than the wall clock on a shared machine), best of BENCH_DB_REPS runs.
// Env: BENCH_DB_N (default 5000), BENCH_DB_REPS (default 5), BENCH_DB_DIR (default the OS temp dir; a tmpfs
// such as /dev/shm takes the disk out of the numbers).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../dist/db/open-database.js';
import { sealOne } from '../dist/audit/audit-log.js';

const N = Number(process.env.BENCH_DB_N ?? 5000);
const REPS = Number(process.env.BENCH_DB_REPS ?? 5);
const D = (n) => `sha256:${n.toString(16).padStart(64, '0')}`;

const dir = await mkdtemp(join(process.env.BENCH_DB_DIR ?? tmpdir(), 'bench-db-'));
try {
  const db = await openDatabase({ path: join(dir, 'bench.db') });
  const up = 'docker.io';
  const repo = 'library/app';
  for (let i = 0; i < 100; i++) {
    await db.cache.putTag(up, repo, `t${i}`, D(i), Date.now());
    await db.cache.putManifest(up, repo, { digest: D(i), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1000, isIndex: false, subject: null }, [], Date.now());
    await db.cache.linkBlobs(up, repo, D(i), [{ digest: D(10_000 + i), size: 4096 }], false, Date.now());
    await db.cache.putEvidence({ upstream: up, repository: repo, digest: D(i), fingerprint: 'fp' }, '{"ok":true}', Date.now() + 3600_000);
  }
  const event = (i) => ({
    kind: 'pull.blob', requestId: `r${i}`, client: '127.0.0.1', user: null, upstream: up, repository: repo,
    reference: D(10_000 + (i % 100)), digest: D(10_000 + (i % 100)), decision: 'allow', policy: 'default',
    policyVersion: 1, mode: 'enforce', reasons: ['signed'], evidence: { signer: { key: 'k' } }, cacheHit: true, bytes: 4096, status: 200,
  });
  const rate = async (fn) => {
    let best = 0;
    let cpuUs = Infinity;
    for (let r = 0; r < REPS; r++) {
      const start = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      for (let i = 0; i < N; i++) await fn(i);
      const used = process.cpuUsage(cpu);
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      best = Math.max(best, N / s);
      cpuUs = Math.min(cpuUs, (used.user + used.system) / N);
    }
    return { perSec: Math.round(best), cpuUs: Math.round(cpuUs * 10) / 10 };
  };
  const appends = await rate((i) => db.audit.append(sealOne(event(i))));
  const lookups = await rate(async (i) => {
    const k = i % 100;
    await db.cache.getTag(up, repo, `t${k}`);
    await db.cache.getManifest(D(k));
    await db.cache.blobLinks(up, repo, D(10_000 + k));
    await db.cache.getEvidence({ upstream: up, repository: repo, digest: D(k), fingerprint: 'fp' });
  });
  console.log(JSON.stringify({ n: N, reps: REPS, auditAppend: appends, cacheLookup: lookups }));
  await db.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
