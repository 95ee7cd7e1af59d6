// `npm run bench`: Portcullis side by side with CNCF distribution's pull-through proxy (the peer) and nginx
// serving the same blob files from disk (the near-limit), on loopback, in one run on this machine.
// Env: BENCH_REPS (default 3), BENCH_BIG_MIB (default 1024), BENCH_DEADLINE_MIN (default 25),
// BENCH_ONLY=vuln (only the vulnerability gate's row and the systems it needs).
import { register } from 'node:module';
import { cpus, freemem, totalmem, release } from 'node:os';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

register('./lib/ts-hooks.mjs', import.meta.url);
const { helpers, startPeer, startNginx, startPortcullis, startReplicas, startBareNode, startOffloaded, startObjectStore, startOnObjectStore, benchRoot, UPSTREAM_NAME } = await import('./lib/systems.mjs');
const { createAgent, pullImage, median, timed, ACCEPT } = await import('./lib/client.mjs');
const { wrk, upstreamBlobFetches, withRssSampling, cpuSeconds, table, ratio } = await import('./lib/measure.mjs');
const { createImagePusher, MiB } = await import('./lib/images.mjs');
const { measureVulnScanRows, summarizeVulnScan, vulnScanRows, vulnScanWithin10pct } = await import('./lib/vuln-scan.mjs');

const REPS = Number(process.env.BENCH_REPS ?? 3);
const BIG = Number(process.env.BENCH_BIG_MIB ?? 1024) * MiB;
const ONLY = process.env.BENCH_ONLY;
if (ONLY !== undefined && ONLY !== 'vuln') throw new Error(`BENCH_ONLY=${ONLY}: only "vuln" is known`);
const RESULTS = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'results');
const deadline = setTimeout(() => {
  console.error('benchmark deadline passed; stopping');
  process.exit(2);
}, Number(process.env.BENCH_DEADLINE_MIN ?? 25) * 60_000);
deadline.unref();

const h = await helpers();
const pki = await import('../test/helpers/pki/index.ts');
const root = await benchRoot();
const stops = [];
const log = (msg) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const cleanUp = async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await rm(root, { recursive: true, force: true });
  clearTimeout(deadline);
};

if (ONLY === 'vuln') {
  const { runVulnOnly } = await import('./lib/vuln-only.mjs');
  try {
    await runVulnOnly({ h, pki, root, rounds: REPS, log, stops, resultsDir: RESULTS });
  } finally {
    await cleanUp();
  }
  process.exit(0);
}

try {
  log(`root ${root}`);
  await mkdir(join(root, 'upstream'));
  const registry = await h.startRegistry({ dir: join(root, 'upstream') });
  stops.push(() => registry.stop());
  const pusher = await createImagePusher(h, pki, registry.url, UPSTREAM_NAME);
  const peer = await startPeer(h, registry.url, root);
  stops.push(peer.stop);
  const nginx = await startNginx(h, registry.dir, root);
  stops.push(nginx.stop);
  const bare = await startBareNode(h, registry.dir, root);
  stops.push(bare.stop);
  const portcullis = await startPortcullis(h, registry.url, root);
  stops.push(portcullis.stop);
  // The same proxy behind nginx, which sends cached layers itself after the proxy's decision (X-Accel-Redirect).
  const offload = await startOffloaded(h, registry.url, root);
  stops.push(offload.stop);
  const signed = await startPortcullis(h, registry.url, root, {
    name: 'portcullis+keyed',
    policies: [{ name: 'signed', match: ['**'], mode: 'enforce', signatures: { anyOf: [{ key: 'bench', tlog: 'optional' }] } }],
    extra: { trust: { trustedRoot: 'public-good', keys: { bench: pusher.publicKeyPem } } },
  });
  stops.push(signed.stop);
  // The same proxy as one process, to show what the workers add.
  const single = await startPortcullis(h, registry.url, root, { name: 'portcullis-1w', extra: { server: { workers: 1 } } });
  stops.push(single.stop);
  // Blobs in an S3-compatible store: streamed through the proxy, and answered with a redirect to the store.
  const objectStore = await startObjectStore(h, root);
  stops.push(objectStore.stop);
  const s3 = await startOnObjectStore(h, registry.url, root, objectStore);
  stops.push(s3.stop);
  const s3redirect = await startOnObjectStore(h, registry.url, root, objectStore, { redirect: true });
  stops.push(s3redirect.stop);
  for (const sys of [s3, s3redirect]) sys.pids = [sys.pid, ...(objectStore.pid ? [objectStore.pid] : [])];
  // Three replicas on PostgreSQL behind nginx.
  const replicas = await startReplicas(h, registry.url, root);
  stops.push(replicas.stop);
  const proxies = [portcullis, signed, peer];
  const agent = createAgent(512);
  const repo = 'bench/app';

  // Cold pull: one fresh image per repetition; each proxy pulls it through an empty cache.
  log('cold pulls');
  const cold = { portcullis: [], signed: [], peer: [], nginx: [] };
  const coldImages = [];
  for (let i = 0; i < REPS; i++) {
    const img = await pusher.push(repo, `cold-${i}`);
    coldImages.push(img);
    const order = i % 2 ? [...proxies].reverse() : proxies;
    for (const sys of order) {
      const { seconds } = await timed(() => pullImage(agent, sys.url, repo, img.tag, { verify: i === 0 }));
      cold[sys === signed ? 'signed' : sys.name].push(seconds);
    }
    cold.nginx.push((await timed(() => pullImage(agent, nginx.url, repo, img.digest, { verify: i === 0 }))).seconds);
    // Warms the offloaded proxy's cache, verifying what nginx sends.
    await pullImage(agent, offload.url, repo, img.tag, { verify: true });
  }

  // Every proxy's cache holds the warm image before anything is timed on it.
  for (const sys of [single, replicas, s3, s3redirect]) await pullImage(agent, sys.url, repo, coldImages[0].tag, { verify: true });
  // An object store finishes its upload after the client's last byte; the warm rows start once it is there.
  await new Promise((r) => setTimeout(r, 2000));

  // Warm pull throughput from each cache (nginx: the files themselves).
  log('warm pulls');
  const warm = { portcullis: [], signed: [], peer: [], nginx: [], offload: [], bare: [], s3: [], 's3-redirect': [] };
  const w = coldImages[0];
  for (let i = 0; i < REPS + 2; i++) {
    for (const sys of [...proxies, offload, s3, s3redirect, nginx, bare]) {
      const ref = sys === nginx || sys === bare ? w.digest : w.tag;
      const { seconds, value } = await timed(() => pullImage(agent, sys.url, repo, ref));
      warm[sys === signed ? 'signed' : sys.name].push(value.bytes / MiB / seconds);
    }
  }

  // Aggregate warm throughput: 8 and 32 clients pulling the cached image at once, each on its own connections.
  log('aggregate warm pulls, 8 and 32 clients');
  // CPU seconds per GB served (the server's process tree): the figure that does not move with the machine's noise.
  const aggregate = { 8: {}, 32: {} };
  const cpuPerGB = {};
  for (const clients of [8, 32]) {
    for (let i = 0; i < REPS; i++) {
      for (const sys of [portcullis, single, offload, s3, s3redirect, replicas, peer, nginx, bare]) {
        const ref = sys === nginx || sys === bare ? w.digest : w.tag;
        const many = createAgent(clients * 4);
        const pids = sys.pids ?? (sys.pid ? [sys.pid] : undefined);
        const cpuBefore = pids && clients === 8 ? await cpuSeconds(pids) : undefined;
        const { seconds, value } = await timed(() => Promise.all(Array.from({ length: clients }, () => pullImage(many, sys.url, repo, ref))));
        const bytes = value.reduce((n, v) => n + v.bytes, 0);
        if (cpuBefore !== undefined) (cpuPerGB[sys.name] ??= []).push(((await cpuSeconds(pids)) - cpuBefore) / (bytes / 1e9));
        await many.close();
        (aggregate[clients][sys.name] ??= []).push(bytes / MiB / seconds);
      }
    }
  }

  // Manifest requests by digest, 32 connections.
  log('manifest requests (wrk)');
  const man = { portcullis: [], signed: [], peer: [], nginx: [] };
  for (let i = 0; i < Math.max(2, REPS - 1); i++) {
    for (const sys of [...proxies, single, replicas, nginx]) {
      const r = await wrk(`${sys.url}/v2/${repo}/manifests/${w.digest}`, { accept: ACCEPT, seconds: 5 });
      if (r.non2xx || r.errors) log(`  ${sys.name}: ${r.non2xx} non-2xx, socket errors ${r.errors}`);
      (man[sys === signed ? 'signed' : sys.name] ??= []).push(r);
    }
  }

  // The vulnerability gate: a signed scan of 5,000 findings against no scan, on a proxy of its own.
  log('manifest requests with a signed scan of 5,000 findings (wrk)');
  const vulnRaw = await measureVulnScanRows({ h, pki, registryUrl: registry.url, pusher, root, rounds: Math.max(4, REPS), log });

  // 16 clients pulling the same uncached image at once; upstream fetches counted from its access log.
  log('16-client fan-out');
  const fan = { portcullis: [], signed: [], peer: [], replicas: [] };
  for (let i = 0; i < REPS; i++) {
    for (const sys of i % 2 ? [...proxies, replicas].reverse() : [...proxies, replicas]) {
      const key = sys === signed ? 'signed' : sys.name;
      const img = await pusher.push(repo, `fan-${key}-${i}`);
      const { seconds } = await timed(() =>
        Promise.all(Array.from({ length: 16 }, () => pullImage(agent, sys.url, repo, img.tag))),
      );
      const up = await upstreamBlobFetches(registry, img.blobDigests);
      fan[key].push({ seconds, fetchesPerBlob: up.gets / img.blobDigests.length, upstreamMiB: up.bytes / MiB, imageMiB: img.bytes / MiB });
    }
  }

  // Peak RSS while 16 clients stream one big layer through an empty cache.
  log(`peak RSS with 16 clients x ${BIG / MiB} MiB`);
  const big = await pusher.push('bench/big', 'big', { layers: 1, layerSize: BIG, sign: false });
  const rss = {};
  const rssProcess = {};
  const streamTime = {};
  for (const sys of [portcullis, peer, nginx]) {
    const ref = sys === nginx ? big.digest : big.tag;
    const { value, peakRss, peakProcessRss } = await withRssSampling(
      sys.pid,
      () => timed(() => Promise.all(Array.from({ length: 16 }, () => pullImage(agent, sys.url, 'bench/big', ref)))),
      { tree: sys !== peer }, // nginx and portcullis: the master or supervisor and its workers
    );
    rss[sys.name] = peakRss / MiB;
    rssProcess[sys.name] = peakProcessRss / MiB;
    streamTime[sys.name] = value.seconds;
  }
  await agent.close();

  const m = (xs, f = (x) => x) => median(xs.map(f));
  const R = {
    coldSeconds: { portcullis: m(cold.portcullis), signed: m(cold.signed), peer: m(cold.peer), nginx: m(cold.nginx) },
    warmMBps: Object.fromEntries(Object.entries(warm).map(([k, v]) => [k, m(v)])),
    manifestRps: Object.fromEntries(Object.entries(man).map(([k, v]) => [k, m(v, (r) => r.rps)])),
    manifestP99Ms: Object.fromEntries(Object.entries(man).map(([k, v]) => [k, m(v, (r) => r.p99Ms)])),
    fanoutSeconds: Object.fromEntries(Object.entries(fan).map(([k, v]) => [k, m(v, (r) => r.seconds)])),
    fanoutFetchesPerBlob: Object.fromEntries(Object.entries(fan).map(([k, v]) => [k, m(v, (r) => r.fetchesPerBlob)])),
    fanoutUpstreamMiB: Object.fromEntries(Object.entries(fan).map(([k, v]) => [k, m(v, (r) => r.upstreamMiB)])),
    aggregateMBps: Object.fromEntries(Object.entries(aggregate).map(([c, bySys]) => [c, Object.fromEntries(Object.entries(bySys).map(([k, v]) => [k, m(v)]))])),
    peakRssMiB: rss,
    peakProcessRssMiB: rssProcess,
    cpuSecondsPerGB: Object.fromEntries(Object.entries(cpuPerGB).map(([k, v]) => [k, m(v)])),
    bigStreamSeconds: streamTime,
    vulnScan: summarizeVulnScan(vulnRaw),
  };
  const rows = [
    ['cold pull, s (3x32 MiB, lower is better)', R.coldSeconds.portcullis, R.coldSeconds.peer, R.coldSeconds.nginx],
    ['cold pull with keyed verification, s', R.coldSeconds.signed, R.coldSeconds.peer, R.coldSeconds.nginx],
    ['warm pull, MB/s', R.warmMBps.portcullis, R.warmMBps.peer, R.warmMBps.nginx],
    ['  same, behind nginx with offload', R.warmMBps.offload, R.warmMBps.peer, R.warmMBps.nginx],
    ['  same, bare Node file server (the floor in JavaScript)', R.warmMBps.bare, R.warmMBps.peer, R.warmMBps.nginx],
    ['  same, blobs in S3 (s3rver), streamed by the proxy', R.warmMBps.s3, R.warmMBps.peer, R.warmMBps.nginx],
    ['  same, blobs in S3, 307 to a presigned URL (store fetch counted)', R.warmMBps['s3-redirect'], R.warmMBps.peer, R.warmMBps.nginx],
    ['warm aggregate, 8 clients, MB/s', R.aggregateMBps[8].portcullis, R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['  same, one process (workers: 1)', R.aggregateMBps[8]['portcullis-1w'], R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['  same, behind nginx with offload', R.aggregateMBps[8].offload, R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['  same, bare Node file server', R.aggregateMBps[8].bare, R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['  same, blobs in S3, streamed by the proxy', R.aggregateMBps[8].s3, R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['  same, blobs in S3, redirected', R.aggregateMBps[8]['s3-redirect'], R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['  same, 3 replicas on PostgreSQL behind nginx (offload)', R.aggregateMBps[8].replicas, R.aggregateMBps[8].peer, R.aggregateMBps[8].nginx],
    ['CPU s per GB served, 8 clients (lower is better)', R.cpuSecondsPerGB.portcullis, R.cpuSecondsPerGB.peer, R.cpuSecondsPerGB.nginx],
    ['  same, one process (workers: 1)', R.cpuSecondsPerGB['portcullis-1w'], R.cpuSecondsPerGB.peer, R.cpuSecondsPerGB.nginx],
    ['  same, behind nginx with offload (nginx + proxy)', R.cpuSecondsPerGB.offload, R.cpuSecondsPerGB.peer, R.cpuSecondsPerGB.nginx],
    ['  same, bare Node file server', R.cpuSecondsPerGB.bare, R.cpuSecondsPerGB.peer, R.cpuSecondsPerGB.nginx],
    ['  same, blobs in S3, streamed (proxy + s3rver)', R.cpuSecondsPerGB.s3, R.cpuSecondsPerGB.peer, R.cpuSecondsPerGB.nginx],
    ['  same, blobs in S3, redirected (proxy + s3rver)', R.cpuSecondsPerGB['s3-redirect'], R.cpuSecondsPerGB.peer, R.cpuSecondsPerGB.nginx],
    ['warm aggregate, 32 clients, MB/s', R.aggregateMBps[32].portcullis, R.aggregateMBps[32].peer, R.aggregateMBps[32].nginx],
    ['  same, one process (workers: 1)', R.aggregateMBps[32]['portcullis-1w'], R.aggregateMBps[32].peer, R.aggregateMBps[32].nginx],
    ['  same, behind nginx with offload', R.aggregateMBps[32].offload, R.aggregateMBps[32].peer, R.aggregateMBps[32].nginx],
    ['  same, 3 replicas on PostgreSQL behind nginx (offload)', R.aggregateMBps[32].replicas, R.aggregateMBps[32].peer, R.aggregateMBps[32].nginx],
    ['manifest by digest, req/s (wrk -c32)', R.manifestRps.portcullis, R.manifestRps.peer, R.manifestRps.nginx],
    ['  same, one process (workers: 1)', R.manifestRps['portcullis-1w'], R.manifestRps.peer, R.manifestRps.nginx],
    ['  same, 3 replicas on PostgreSQL behind nginx (offload)', R.manifestRps.replicas, R.manifestRps.peer, R.manifestRps.nginx],
    ['  p99 ms, 3 replicas on PostgreSQL', R.manifestP99Ms.replicas, R.manifestP99Ms.peer, R.manifestP99Ms.nginx],
    ['manifest by digest, p99 ms', R.manifestP99Ms.portcullis, R.manifestP99Ms.peer, R.manifestP99Ms.nginx],
    ['manifest by digest with keyed policy, req/s', R.manifestRps.signed, R.manifestRps.peer, R.manifestRps.nginx],
    ...vulnScanRows(R.vulnScan, R.manifestRps.peer, R.manifestRps.nginx),
    ['16 clients same uncached image, s', R.fanoutSeconds.portcullis, R.fanoutSeconds.peer, undefined],
    ['  upstream GETs per blob', R.fanoutFetchesPerBlob.portcullis, R.fanoutFetchesPerBlob.peer, undefined],
    ['  MiB fetched from upstream', R.fanoutUpstreamMiB.portcullis, R.fanoutUpstreamMiB.peer, undefined],
    ['16 clients, keyed verification, s', R.fanoutSeconds.signed, R.fanoutSeconds.peer, undefined],
    ['16 clients, 3 replicas on PostgreSQL, s', R.fanoutSeconds.replicas, R.fanoutSeconds.peer, undefined],
    ['  upstream GETs per blob', R.fanoutFetchesPerBlob.replicas, R.fanoutFetchesPerBlob.peer, undefined],
    [`peak RSS MiB (all processes), 16 clients x ${BIG / MiB} MiB layer`, R.peakRssMiB.portcullis, R.peakRssMiB.peer, R.peakRssMiB.nginx],
    ['  largest single process, MiB', R.peakProcessRssMiB.portcullis, R.peakProcessRssMiB.peer, R.peakProcessRssMiB.nginx],
    [`  time for that, s`, R.bigStreamSeconds.portcullis, R.bigStreamSeconds.peer, R.bigStreamSeconds.nginx],
  ];
  // The targets of the performance work, each a ratio measured in this run.
  const targets = {
    warm8DirectAtLeast1_2xPeer: R.aggregateMBps[8].portcullis >= 1.2 * R.aggregateMBps[8].peer,
    warm8OffloadAtLeast0_8xNginx: R.aggregateMBps[8].offload >= 0.8 * R.aggregateMBps[8].nginx,
    coldNoSlowerThanPeer: R.coldSeconds.portcullis <= R.coldSeconds.peer,
    coldKeyedWithin1_2xPeer: R.coldSeconds.signed <= 1.2 * R.coldSeconds.peer,
    manifestAtLeast15xPeer: R.manifestRps.portcullis >= 15 * R.manifestRps.peer,
    manifestP99Under10ms: R.manifestP99Ms.portcullis < 10,
    replicasAtLeast0_8xOneSqliteInstance: R.manifestRps.replicas >= 0.8 * R.manifestRps.portcullis && R.aggregateMBps[8].replicas >= 0.8 * R.aggregateMBps[8].portcullis,
    replicasOneFetchPerBlob: R.fanoutFetchesPerBlob.replicas === 1,
    fanoutOneFetchPerBlob: R.fanoutFetchesPerBlob.portcullis === 1 && R.fanoutFetchesPerBlob.signed === 1,
    peakProcessRssAtMost2xPeer: R.peakProcessRssMiB.portcullis <= 2 * R.peakProcessRssMiB.peer,
    vulnScanWithin10pct: vulnScanWithin10pct(R.vulnScan),
  };
  const machine = {
    cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: +(totalmem() / 1024 ** 3).toFixed(1),
    freeGiB: +(freemem() / 1024 ** 3).toFixed(1), kernel: release(), node: process.version,
  };
  console.log(`\nmachine: ${machine.cpus} x ${machine.model}, ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}, Node ${machine.node}`);
  console.log(`medians of ${REPS} repetitions (warm ${REPS + 2}, wrk ${Math.max(2, REPS - 1)} x 5 s)\n`);
  console.log(table(rows));
  console.log('\ntargets:');
  for (const [k, ok] of Object.entries(targets)) console.log(`  ${ok ? 'met ' : 'MISS'}  ${k}`);
  console.log(`  (keyed-policy cold pull vs peer: ${ratio(R.coldSeconds.signed, R.coldSeconds.peer)})`);
  console.log(`  (manifest with a 5,000-finding scan vs without: ${R.vulnScan.ratio.toFixed(2)}x (median of paired rounds))`);
  console.log(`  (8-client aggregate vs peer ${ratio(R.aggregateMBps[8].portcullis, R.aggregateMBps[8].peer)}, vs nginx ${ratio(R.aggregateMBps[8].portcullis, R.aggregateMBps[8].nginx)})`);
  await mkdir(RESULTS, { recursive: true });
  const file = join(RESULTS, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ machine, reps: REPS, bigLayerMiB: BIG / MiB, results: R, raw: { cold, warm, aggregate, man, fan, vulnScan: vulnRaw }, targets }, null, 2));
  console.log(`\nwritten ${file}`);
} finally {
  await cleanUp();
}
