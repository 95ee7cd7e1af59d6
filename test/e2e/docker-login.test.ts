import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocker, type DockerDaemon } from '../helpers/docker.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/** `auth.pull: "token"` with the Docker CLI: `docker login` with a puller token, then a pull named in the audit log. */
const skip = !haveTools(['docker-registry', 'dockerd', 'docker']) || !haveRoot();
const TOKEN = 'e2e-docker-puller-5b7a';

describe.skipIf(skip)('docker login', () => {
  let registry: Registry;
  let proxy: Proxy;
  let daemon: DockerDaemon;
  let image: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { mediaTypeStyle: 'docker' });
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: await tempDir('proxy'),
      extra: {
        auth: { pull: 'token', tokens: [{ name: 'deployer', role: 'puller', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') }] },
      },
    });
    daemon = await startDocker({ dir: await tempDir('docker') });
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  it('refuses a pull without login and a login with a wrong token', async () => {
    const anonymous = await daemon.docker(['pull', `${proxy.host}/${UPSTREAM}/org/app:1`]).catch((e: Error) => e);
    expect(anonymous).toBeInstanceOf(Error);
    expect((anonymous as Error).message).toMatch(/no basic auth credentials|unauthorized|authentication required/i);
    const wrong = await daemon.docker(['login', proxy.host, '-u', 'deployer', '--password', 'not-the-token']).catch((e: Error) => e);
    expect(wrong).toBeInstanceOf(Error);
  });

  it('pulls after docker login, and the audit log names the puller', async () => {
    await daemon.docker(['login', proxy.host, '-u', 'deployer', '--password', TOKEN]);
    const out = await daemon.docker(['pull', `${proxy.host}/${UPSTREAM}/org/app:1`]);
    expect(out.stdout).toContain(`Digest: ${image.digest}`);
    const served = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind IN ('pull.manifest', 'pull.blob') AND status = 200");
    expect(served.length).toBeGreaterThan(0);
    expect(new Set(served.map((r) => r.user))).toEqual(new Set(['deployer']));
  });
});
