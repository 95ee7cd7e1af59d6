// The vulnerability gate's row: manifest decisions for an image whose signed scan lists 5,000 findings, against
// an image under the same keyed rule without a `vulnerabilities` block, on one proxy, once the evidence is cached.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPortcullis, UPSTREAM_NAME } from './systems.mjs';
import { cpuSeconds, wrk } from './measure.mjs';
import { ACCEPT, median } from './client.mjs';

export const FINDINGS = 5000;
const VULN_PREDICATE = 'https://cosign.sigstore.dev/attestation/vuln/v1';
const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH'];
const here = import.meta.dirname ?? new URL('.', import.meta.url).pathname;

/**
 * A Trivy report (the project's pinned real one) whose findings are `count` copies of its real LOW finding,
 * each a different id and package, low to high, every other one with a fix: none is critical, so none denies.
 */
export async function generatedTrivyReport(count = FINDINGS) {
  const report = JSON.parse(await readFile(join(here, '..', '..', 'test', 'fixtures', 'vuln', 'trivy-debian-buster.json'), 'utf8'));
  const model = report.Results[0].Vulnerabilities.find((v) => v.Severity === 'LOW');
  report.Results[0].Vulnerabilities = Array.from({ length: count }, (_, i) => {
    const pkg = `pkg-${i % 700}`;
    const version = `1.${i % 13}-${i}`;
    return {
      ...model,
      VulnerabilityID: `CVE-2026-${String(10_000 + i)}`,
      PkgID: `${pkg}@${version}`,
      PkgName: pkg,
      PkgIdentifier: { PURL: `pkg:deb/debian/${pkg}@${version}?arch=amd64&distro=debian-10.1`, UID: i.toString(16) },
      InstalledVersion: version,
      ...(i % 2 ? { FixedVersion: `${version}+deb10u1` } : {}),
      Severity: SEVERITIES[i % SEVERITIES.length],
    };
  });
  return report;
}

/** Portcullis with two keyed rules: `bench/scanned` also needs a signed scan with no critical finding. */
export async function startVulnGated(h, upstreamUrl, root, pusher) {
  const signedBy = { anyOf: [{ key: 'bench', tlog: 'optional' }] };
  return startPortcullis(h, upstreamUrl, root, {
    name: 'portcullis+vuln',
    policies: [
      {
        name: 'scanned', match: [`${UPSTREAM_NAME}/bench/scanned`], mode: 'enforce', signatures: signedBy,
        vulnerabilities: { scans: { signedBy, maxAge: '7d' }, deny: { severity: 'critical', ids: ['CVE-2024-3094'] } },
      },
      { name: 'signed', match: ['**'], mode: 'enforce', signatures: signedBy },
    ],
    extra: { trust: { trustedRoot: 'public-good', keys: { bench: pusher.publicKeyPem } } },
  });
}

/** Both images, signed; the scanned one with its scan as a cosign `.att` attestation signed by the same key. */
export async function pushScanImages(h, pki, registryUrl, pusher) {
  const small = { layers: 1, layerSize: 4096 };
  const scanned = await pusher.push('bench/scanned', '1', small);
  const unscanned = await pusher.push('bench/unscanned', '1', small);
  const at = new Date(Date.now() - 3_600_000).toISOString();
  const predicate = {
    invocation: { uri: 'https://ci.example/bench/1' },
    scanner: { uri: 'pkg:github/aquasecurity/trivy@v0.58.0', version: '0.58.0', result: await generatedTrivyReport() },
    metadata: { scanStartedOn: at, scanFinishedOn: at },
  };
  const layer = pki.createAttestationLayer({ digest: scanned.digest, predicateType: VULN_PREDICATE, predicate, signer: pusher.signer });
  const att = pki.cosignManifest(scanned.digest, [layer], 'att');
  for (const blob of att.blobs) await h.pushBlob(registryUrl, 'bench/scanned', blob);
  await h.pushManifest(registryUrl, 'bench/scanned', att.tag, att.manifest, att.mediaType);
  return { scanned, unscanned, statementMiB: layer.blob.length / 1024 / 1024 };
}

/**
 * Starts the gated proxy, pushes both images, fetches each once (the scan is verified and reduced then) and
 * checks from the audit log that the scan with every finding was judged; then `rounds` wrk runs per image,
 * alternating which goes first, with the keyed row's settings (32 connections, 5 s).
 */
export async function measureVulnScanRows({ h, pki, registryUrl, pusher, root, rounds, log }) {
  const sys = await startVulnGated(h, registryUrl, root, pusher);
  try {
    const images = await pushScanImages(h, pki, registryUrl, pusher);
    log(`  scan attestation: ${FINDINGS} findings, ${images.statementMiB.toFixed(1)} MiB signed envelope`);
    const url = (img) => `${sys.url}/v2/${img.repo}/manifests/${img.digest}`;
    for (const img of [images.scanned, images.unscanned]) {
      const started = performance.now();
      const res = await fetch(url(img), { headers: { accept: ACCEPT } });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${img.repo}: ${res.status} ${body.slice(0, 300)}`);
      log(`  first decision for ${img.repo} (verification included): ${((performance.now() - started) / 1000).toFixed(2)} s`);
    }
    const counts = await judgedCounts(sys, images.scanned);
    const judged = Object.values(counts).reduce((n, c) => n + c, 0);
    if (judged !== FINDINGS) throw new Error(`the judged scan counts ${judged} findings, not ${FINDINGS}: ${JSON.stringify(counts)}`);
    // Unrecorded warm-up of both paths (JIT, connection set-up).
    for (const img of [images.scanned, images.unscanned]) await wrk(url(img), { accept: ACCEPT, seconds: 2 });
    const out = { scanned: [], unscanned: [], counts };
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 ? ['unscanned', 'scanned'] : ['scanned', 'unscanned'];
      for (const key of order) {
        const cpuBefore = await cpuSeconds([sys.pid]);
        const r = await wrk(url(images[key]), { accept: ACCEPT, seconds: 5 });
        // CPU per request is what the gate itself costs; req/s also moves with whatever else the machine runs.
        r.cpuUsPerRequest = ((await cpuSeconds([sys.pid])) - cpuBefore) / (r.rps * 5) * 1e6;
        if (r.non2xx || r.errors) log(`  ${key}: ${r.non2xx} non-2xx, socket errors ${r.errors}`);
        log(`  ${key}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99Ms} ms, ${r.cpuUsPerRequest.toFixed(0)} us CPU per request`);
        out[key].push(r);
      }
    }
    return out;
  } finally {
    await sys.stop();
  }
}

/** Severity counts of the judged scan, from the allowed pull's audit event. */
async function judgedCounts(sys, img) {
  const { auditRows } = await import('../../test/helpers/audit.ts');
  const row = auditRows(join(sys.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND repository = ? AND status = 200", `${UPSTREAM_NAME}/${img.repo}`).pop();
  const scan = row && JSON.parse(String(row.evidence)).vulnerabilities?.scans?.[0];
  if (!scan) throw new Error(`no judged scan in the audit event for ${img.repo}`);
  return scan.counts;
}

/**
 * Medians of the wrk runs and the ratio the target is about: scanned over unscanned req/s, the median of each
 * round's pair (run back to back, so a slow spell of the machine touches both sides of a pair alike).
 */
export function summarizeVulnScan(v) {
  const m = (xs, f) => median(xs.map(f));
  const scannedRps = m(v.scanned, (r) => r.rps);
  const unscannedRps = m(v.unscanned, (r) => r.rps);
  const ratio = median(v.scanned.map((r, i) => r.rps / v.unscanned[i].rps));
  return {
    scannedRps, unscannedRps, ratio,
    scannedCpuUs: m(v.scanned, (r) => r.cpuUsPerRequest), unscannedCpuUs: m(v.unscanned, (r) => r.cpuUsPerRequest),
    scannedP99Ms: m(v.scanned, (r) => r.p99Ms), unscannedP99Ms: m(v.unscanned, (r) => r.p99Ms),
    non2xx: [...v.scanned, ...v.unscanned].reduce((n, r) => n + r.non2xx, 0),
  };
}

/** The table's rows ([label, portcullis, peer, nginx]); peer and nginx from the plain manifest row when measured. */
export function vulnScanRows(S, peer, nginx) {
  return [
    [`manifest by digest, keyed policy + signed scan of ${FINDINGS} findings, req/s`, S.scannedRps, peer, nginx],
    ['  same proxy, keyed rule without vulnerabilities (no scan), req/s', S.unscannedRps, peer, nginx],
    ['  p99 ms, with the scan', S.scannedP99Ms, undefined, undefined],
    ['  p99 ms, without the scan', S.unscannedP99Ms, undefined, undefined],
    ['  CPU us per request, with the scan', S.scannedCpuUs, undefined, undefined],
    ['  CPU us per request, without the scan', S.unscannedCpuUs, undefined, undefined],
  ];
}

export const vulnScanWithin10pct = (S) => S.ratio >= 0.9 && S.non2xx === 0;
