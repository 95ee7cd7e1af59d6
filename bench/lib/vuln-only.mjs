// `BENCH_ONLY=vuln npm run bench`: only the vulnerability gate's row, with only the systems it needs (the
// upstream and one gated proxy), so it can be measured in a minute. Printed and written like the full run.
import { cpus, release } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UPSTREAM_NAME } from './systems.mjs';
import { createImagePusher } from './images.mjs';
import { table } from './measure.mjs';
import { measureVulnScanRows, summarizeVulnScan, vulnScanRows, vulnScanWithin10pct } from './vuln-scan.mjs';

export async function runVulnOnly({ h, pki, root, rounds, log, stops, resultsDir }) {
  await mkdir(join(root, 'upstream'));
  const registry = await h.startRegistry({ dir: join(root, 'upstream') });
  stops.push(() => registry.stop());
  const pusher = await createImagePusher(h, pki, registry.url, UPSTREAM_NAME);
  log('vulnerability gate: manifest requests (wrk)');
  const raw = await measureVulnScanRows({ h, pki, registryUrl: registry.url, pusher, root, rounds, log });
  const S = summarizeVulnScan(raw);
  const targets = { vulnScanWithin10pct: vulnScanWithin10pct(S) };
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version };
  console.log(`\nmachine: ${machine.cpus} x ${machine.model}, Linux ${machine.kernel}, Node ${machine.node}`);
  console.log(`BENCH_ONLY=vuln: medians of ${rounds} wrk runs x 5 s per image, alternating, one proxy\n`);
  console.log(table(vulnScanRows(S)));
  console.log('\ntargets:');
  for (const [k, ok] of Object.entries(targets)) console.log(`  ${ok ? 'met ' : 'MISS'}  ${k}`);
  console.log(`  (with the scan vs without, median of paired rounds: ${S.ratio.toFixed(2)}x)`);
  await mkdir(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-vuln.json`);
  await writeFile(file, JSON.stringify({ machine, only: 'vuln', rounds, results: { vulnScan: S }, raw: { vulnScan: raw }, targets }, null, 2));
  console.log(`\nwritten ${file}`);
}
