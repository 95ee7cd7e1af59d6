import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { haveTools } from '../helpers/tools.js';
import { ACCEPT_ALL_MANIFESTS, removeTempDirs, tempDir } from '../e2e/support.js';
import { pushLayout } from './layout-push.js';

/**
 * Every OCI layout of `../shared/vectors/cases.json`, served through the proxy over HTTP: each layout is
 * pushed into a real distribution registry (2.8: no referrers API, so referrers are found through the
 * `sha256-<hex>` tag schema) and pulled through a running proxy whose policy is the case's; the verdict
 * is the HTTP answer (200 served, 403 denied). `.sig` cases run under a `signatures` rule, `.att` cases
 * under `provenance`, referrer cases under an `attestations` rule for cosign's predicate type. Each case
 * has a repository of its own (derived layouts share their image digest with the real one; evidence belongs
 * to the repository it was found in), and one proxy serves every case of a trusted root.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const VECTORS = resolve(repoRoot, '../shared/vectors');
const present = existsSync(join(VECTORS, 'cases.json'));
const tools = haveTools(['docker-registry']);
if (!present) console.log(`conformance through the proxy: ${VECTORS} not found; skipped`);
else if (!tools) console.log('conformance through the proxy: docker-registry not installed; skipped');

const UPSTREAM = 'vectors.test';
const COSIGN_ATTESTATION = 'https://cosign.sigstore.dev/attestation/v1';
const v = (p: string) => join(VECTORS, p);

interface Case {
  layout: string;
  trust?: string;
  identity?: string;
  issuer?: string;
  key?: string;
  tlog?: string;
  source?: string;
  branch?: string;
  predicateType?: string;
  expect: 'pass' | 'fail';
}
interface Planned {
  group: string;
  label: string;
  c: Case;
  repo: string;
  rule: Record<string, unknown>;
  trust: string;
}

const cases = present ? (JSON.parse(readFileSync(v('cases.json'), 'utf8')) as Record<string, unknown>) : {};
const defaultTrust = (cases.defaults as { trust?: string } | undefined)?.trust ?? 'public-good/trusted_root.json';
const keyNames = new Map<string, string>();
const keyName = (path: string) => {
  if (!keyNames.has(path)) keyNames.set(path, `k${keyNames.size}`);
  return keyNames.get(path)!;
};
const keyless = (c: Case) => ({ keyless: { subject: c.identity, ...(c.issuer ? { issuer: c.issuer } : { issuerRegExp: '.*' }) } });

function plan(): Planned[] {
  const out: Planned[] = [];
  const add = (group: string, c: Case, label: string, requirements: Record<string, unknown>) => {
    const repo = `case${out.length}/${c.layout.split('/').filter((p) => p !== 'container_workflow_dispatch').pop()!.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`;
    out.push({ group, label, c, repo, rule: { name: `case${out.length}`, match: [`${UPSTREAM}/${repo}`], mode: 'enforce', ...requirements }, trust: c.trust ?? defaultTrust });
  };
  for (const c of (cases.legacy_sig_layouts ?? []) as Case[]) {
    const req = c.key ? { key: keyName(c.key), tlog: c.tlog === 'not-required' ? 'optional' : 'required' } : keyless(c);
    const label = `${c.layout.split('/').pop()} ${c.identity ?? c.key!.split('/').pop()}${c.issuer ? ` ${c.issuer}` : ''}${c.tlog ? ` tlog ${c.tlog}` : ''}`;
    add('legacy .sig', c, label, { signatures: { anyOf: [req] } });
  }
  for (const c of (cases.legacy_att_layouts ?? []) as Case[]) {
    const label = `${c.layout.split('/').slice(-2, -1)[0]}${c.source ? ` source ${c.source}` : ''}${c.branch ? ` branch ${c.branch}` : ''}`;
    add('legacy .att', c, label, {
      provenance: { signedBy: { anyOf: [keyless(c)] }, builderId: c.identity, ...(c.source && { sourceRepository: `https://${c.source}` }), ...(c.branch && { sourceBranch: c.branch }) },
    });
  }
  for (const c of (cases.referrer_layouts ?? []) as Case[]) {
    add('referrers', c, `${c.layout.split('/').pop()} under attestations`, {
      attestations: [{ name: 'cosign', predicateType: c.predicateType ?? COSIGN_ATTESTATION, signedBy: { anyOf: [keyless(c)] } }],
    });
  }
  return out;
}

const planned = present && tools ? plan() : [];
const outcomes: Array<{ group: string; label: string; expect: string; got: string }> = [];

describe.skipIf(planned.length === 0)('conformance through the proxy over HTTP', () => {
  let registry: Registry;
  const proxies = new Map<string, Proxy>();

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('vectors-registry') });
    for (const p of planned) await pushLayout(registry, v(p.c.layout), p.repo, 'vector');
    const keys = Object.fromEntries([...keyNames].map(([path, name]) => [name, v(path)]));
    for (const trust of new Set(planned.map((p) => p.trust))) {
      const proxy = await startProxy({
        upstreams: [{ name: UPSTREAM, url: registry.url }],
        policies: planned.filter((p) => p.trust === trust).map((p) => p.rule),
        dataDir: await tempDir('vectors-proxy'),
        extra: { trust: { trustedRoot: v(trust), keys }, server: { workers: 1 }, log: { level: 'warn' } },
      });
      proxies.set(trust, proxy);
    }
  }, 180_000);

  afterAll(async () => {
    for (const proxy of proxies.values()) await proxy.stop();
    await registry?.stop();
    await removeTempDirs();
    if (outcomes.length) {
      const correct = outcomes.filter((o) => o.expect === o.got).length;
      console.log(`conformance through the proxy: ${correct}/${outcomes.length} verdicts correct`);
    }
  });

  for (const p of planned) {
    it(`${p.group}: ${p.label} → ${p.c.expect}`, async () => {
      const proxy = proxies.get(p.trust)!;
      const res = await fetch(`${proxy.url}/v2/${UPSTREAM}/${p.repo}/manifests/vector`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
      const body = await res.text();
      expect([200, 403], `${res.status} ${body}`).toContain(res.status);
      const got = res.status === 200 ? 'pass' : 'fail';
      outcomes.push({ group: p.group, label: p.label, expect: p.c.expect, got });
      expect(got, body).toBe(p.c.expect);
      if (got === 'fail') expect(JSON.parse(body).errors[0].message).toMatch(new RegExp(`^portcullis: policy "${p.rule.name as string}": `));
    });
  }
});
