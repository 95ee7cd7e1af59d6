import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocker, type DockerDaemon } from '../helpers/docker.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import { removeTempDirs, tempDir } from './support.js';

/**
 * The Docker daemon as a client: `registry-mirrors` (no prefix, Docker Hub names with `library/`) and the
 * path-prefix form, against a real distribution registry standing in for Docker Hub.
 */
const skip = !haveTools(['docker-registry', 'dockerd', 'docker']) || !haveRoot();
const AUDITOR_TOKEN = 'e2e-auditor-token-61b0';

describe.skipIf(skip)('docker pulls through the proxy', () => {
  let registry: Registry;
  let proxy: Proxy;
  let daemon: DockerDaemon;
  let alpine: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    alpine = await pushImage(registry.url, 'library/alpine', '3', { layers: 2, mediaTypeStyle: 'docker' });
    await pushImage(registry.url, 'library/blocked', '1', { mediaTypeStyle: 'docker' });
    await pushImage(registry.url, 'library/busybox', '1', { mediaTypeStyle: 'docker' });
    proxy = await startProxy({
      upstreams: [{ name: 'docker.io', url: registry.url }],
      defaultUpstream: 'docker.io',
      policies: [
        { name: 'no-blocked', match: ['docker.io/library/blocked'], mode: 'deny' },
        { name: 'official', match: ['docker.io/library/*'], mode: 'allow' },
      ],
      dataDir: await tempDir('proxy'),
      extra: {
        auth: { pull: 'anonymous', tokens: [{ name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(AUDITOR_TOKEN).digest('hex') }] },
      },
    });
    daemon = await startDocker({ mirror: proxy.url, dir: await tempDir('docker') });
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('pulls a Docker Hub name through registry-mirrors with the pushed digest', async () => {
    const out = await daemon.docker(['pull', 'alpine:3']);
    expect(out.stdout).toContain(`Digest: ${alpine.digest}`);
    const inspect = await daemon.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'alpine:3']);
    expect(inspect.stdout).toContain(alpine.digest);
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND repository = 'docker.io/library/alpine'");
    expect(rows.map((r) => ({ reference: r.reference, decision: r.decision }))).toContainEqual({ reference: '3', decision: 'allow' });
  });

  it('pulls by path prefix and prints the deny reason', async () => {
    await daemon.docker(['pull', `${proxy.host}/docker.io/library/alpine:3`]);
    const err = await daemon.docker(['pull', `${proxy.host}/docker.io/library/blocked:1`]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain('portcullis: policy "no-blocked": denied by policy');
  });

  it('counts one docker pull (a HEAD, then a GET) once in the audit summary', async () => {
    await daemon.docker(['pull', 'busybox:1']);
    const rows = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND repository = 'docker.io/library/busybox'");
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const res = await fetch(`${proxy.url}/api/v1/audit/summary?since=1h`, { headers: { Authorization: `Bearer ${AUDITOR_TOKEN}` } });
    const summary = (await res.json()) as { groups: { key: string; pulls: number; allowed: number }[] };
    expect(summary.groups.find((g) => g.key === 'docker.io/library/busybox')).toMatchObject({ pulls: 1, allowed: 1 });
  });
});
