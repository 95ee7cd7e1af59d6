// `npm run soak`: 200 concurrent clients pull a mix of cached and uncached images through Portcullis for
// SOAK_SECONDS (default 60) on loopback. Passes when no pull failed, file descriptors and memory did not
// grow across the run, and the audit log holds exactly one event per request made.
// Env: SOAK_SECONDS, SOAK_CLIENTS (default 200).
import { register } from 'node:module';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';

register('./lib/ts-hooks.mjs', import.meta.url);
const { helpers, startPortcullis, benchRoot, memoryOf, fdCount } = await import('./lib/systems.mjs');
const { createAgent, pullImage, median } = await import('./lib/client.mjs');
const { MiB } = await import('./lib/images.mjs');

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 200);
const CACHED = 12;
const UNCACHED = 10 * SECONDS;
// Upstream keep-alive sockets the proxy may hold idle after a run (its undici pool size).
const UPSTREAM_POOL = 64;
const guard = setTimeout(() => {
  console.error('soak deadline passed; stopping');
  process.exit(2);
}, (SECONDS + 240) * 1000);
guard.unref();

const h = await helpers();
const root = await benchRoot();
const stops = [];
const log = (msg) => console.error(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}`);
let failed = true;

try {
  await mkdir(join(root, 'upstream'));
  const registry = await h.startRegistry({ dir: join(root, 'upstream') });
  stops.push(() => registry.stop());
  const proxy = await startPortcullis(h, registry.url, root);
  stops.push(proxy.stop);
  const dbPath = join(proxy.dataDir, 'portcullis.db');

  log(`pushing ${CACHED} cached and ${UNCACHED} uncached images`);
  const push = (i) =>
    h.pushImage(registry.url, `soak/img${i}`, '1', { layers: [0, 1].map(() => randomBytes(128 * 1024)) });
  const images = [];
  for (let i = 0; i < CACHED + UNCACHED; i += 16) {
    images.push(...(await Promise.all(Array.from({ length: Math.min(16, CACHED + UNCACHED - i) }, (_, k) => push(i + k)))));
  }
  const agent = createAgent(CLIENTS + 16);
  for (let i = 0; i < CACHED; i++) await pullImage(agent, proxy.url, `soak/img${i}`, '1', { verify: true });
  const auditBefore = countAudit(dbPath);

  const baseline = { fds: await fdCount(proxy.pid), rss: (await memoryOf(proxy.pid)).rss };
  log(`baseline: ${baseline.fds.total} fds (${baseline.fds.files} files), ${(baseline.rss / MiB).toFixed(0)} MiB RSS; ${CLIENTS} clients for ${SECONDS} s`);
  let nextUncached = CACHED;
  let requests = 0;
  let pulls = 0;
  const failures = [];
  const samples = [];
  const endAt = Date.now() + SECONDS * 1000;
  const sampler = setInterval(async () => {
    try {
      samples.push({ t: Date.now(), fds: await fdCount(proxy.pid), rss: (await memoryOf(proxy.pid)).rss });
    } catch {
      // sampled during exit
    }
  }, 1000);
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (Date.now() < endAt) {
        const uncached = Math.random() < 0.1 && nextUncached < CACHED + UNCACHED;
        const i = uncached ? nextUncached++ : Math.floor(Math.random() * Math.min(nextUncached, CACHED + UNCACHED));
        try {
          await pullImage(agent, proxy.url, `soak/img${i}`, '1', { verify: true, onRequest: () => requests++ });
          pulls++;
        } catch (err) {
          failures.push(`img${i}: ${err.message}`);
        }
      }
    }),
  );
  clearInterval(sampler);
  await agent.close();
  await new Promise((r) => setTimeout(r, 2000)); // let closed sockets leave the proxy
  const after = { fds: await fdCount(proxy.pid), rss: (await memoryOf(proxy.pid)).rss };
  const audited = countAudit(dbPath) - auditBefore;

  // Growth: the last third of the run against the second third (the first third warms up).
  const third = Math.floor(samples.length / 3);
  const mid = samples.slice(third, 2 * third);
  const last = samples.slice(2 * third);
  const rssMid = median(mid.map((s) => s.rss));
  const rssLast = median(last.map((s) => s.rss));
  const fdsMid = Math.max(...mid.map((s) => s.fds.total));
  const fdsLast = Math.max(...last.map((s) => s.fds.total));
  const checks = {
    noFailedPulls: failures.length === 0,
    auditEqualsRequests: audited === requests,
    fileFdsBackToBaseline: after.fds.files <= baseline.fds.files + 2,
    socketsBackToBaseline: after.fds.total <= baseline.fds.total + UPSTREAM_POOL,
    fdsFlatDuringRun: fdsLast <= fdsMid + 16,
    rssFlatDuringRun: rssLast <= rssMid * 1.15 + 16 * MiB,
  };
  const result = {
    seconds: SECONDS, clients: CLIENTS, pulls, requests, audited, failures: failures.slice(0, 20), failureCount: failures.length,
    uncachedPulled: nextUncached - CACHED, baseline, after,
    rssMiB: { mid: rssMid / MiB, last: rssLast / MiB, peak: Math.max(...samples.map((s) => s.rss)) / MiB },
    fds: { mid: fdsMid, last: fdsLast, peak: Math.max(...samples.map((s) => s.fds.total)) },
    checks,
  };
  console.log(JSON.stringify(result, null, 2));
  for (const [k, ok] of Object.entries(checks)) console.log(`${ok ? 'ok  ' : 'FAIL'}  ${k}`);
  const dir = join(new URL('.', import.meta.url).pathname, 'results');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));
  failed = !Object.values(checks).every(Boolean);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await rm(root, { recursive: true, force: true });
  clearTimeout(guard);
}
process.exit(failed ? 1 : 0);

function countAudit(path) {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE kind IN ('pull.manifest', 'pull.blob')").get().n;
  } finally {
    db.close();
  }
}
