import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrImages, readCopiedImage, runCommand, startContainerd, writeHostsToml, type Containerd } from '../helpers/clients.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';

/**
 * `auth.pull: "token"` with real clients: skopeo with --src-creds and containerd with hosts.toml and
 * `ctr --user`, each pulling with a puller token and failing with a wrong one. Every pull names the puller
 * in the audit log, read back through the API with an auditor token.
 */
const PULLER = 'ci-bot';
const PULLER_TOKEN = 'e2e-puller-7d1f0c9b2a';
const AUDITOR_TOKEN = 'e2e-auditor-3c8e5a1d6b';

describe.skipIf(!haveTools(['docker-registry', 'skopeo']))('pull credentials with real clients', () => {
  let registry: Registry;
  let proxy: Proxy;
  let image: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { layers: 2 });
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: await tempDir('proxy'),
      env: { E2E_PULLER_TOKEN: PULLER_TOKEN },
      extra: {
        auth: {
          pull: 'token',
          tokens: [
            { name: PULLER, role: 'puller', tokenEnv: 'E2E_PULLER_TOKEN' },
            { name: 'audrey', role: 'auditor', tokenSha256: createHash('sha256').update(AUDITOR_TOKEN).digest('hex') },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  const skopeo = async (creds: string | undefined, dest: string) =>
    runCommand('skopeo', [
      '--insecure-policy', 'copy', '--src-tls-verify=false',
      ...(creds ? ['--src-creds', creds] : ['--src-no-creds']),
      `docker://${proxy.host}/${UPSTREAM}/org/app:1`, `oci:${dest}`,
    ]);

  async function pullUsers(): Promise<Array<string | null>> {
    const res = await fetch(`${proxy.url}/api/v1/audit/events?kind=pull.manifest&limit=1000`, {
      headers: { Authorization: `Bearer ${AUDITOR_TOKEN}` },
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: { user: string | null }[] }).events.map((e) => e.user);
  }

  it('skopeo copies with the puller token and every pull event names the puller', async () => {
    const dest = await tempDir('copy');
    await skopeo(`${PULLER}:${PULLER_TOKEN}`, dest);
    expect((await readCopiedImage(dest)).manifestDigest).toBe(image.digest);
    const users = await pullUsers();
    expect(users.length).toBeGreaterThan(0);
    expect(users.every((u) => u === PULLER)).toBe(true);
  });

  it('skopeo fails with a wrong token and without credentials', async () => {
    await expect(skopeo(`${PULLER}:not-the-token`, await tempDir('copy'))).rejects.toThrow(/401|unauthorized|authentication/i);
    await expect(skopeo(undefined, await tempDir('copy'))).rejects.toThrow(/401|unauthorized|authentication/i);
  });

  it('never writes a token to the log', () => {
    const logs = proxy.logs().join('\n');
    expect(logs).not.toContain(PULLER_TOKEN);
    expect(logs).not.toContain('not-the-token');
    expect(logs).not.toContain(AUDITOR_TOKEN);
  });

  describe.skipIf(!haveTools(['containerd', 'ctr']) || !haveRoot())('containerd', () => {
    let containerd: Containerd;
    let hostsDir: string;

    beforeAll(async () => {
      containerd = await startContainerd({ dir: await tempDir('containerd') });
      hostsDir = await writeHostsToml(join(containerd.dir, 'hosts.d'), UPSTREAM, proxy.url);
    });
    afterAll(async () => {
      await containerd?.stop();
    });

    const ctrPull = (user: string) =>
      runCommand('ctr', [
        '--address', containerd.socket, '--namespace', 'e2e-auth', 'images', 'pull',
        '--hosts-dir', hostsDir, '--user', user, `${UPSTREAM}/org/app:1`,
      ]);

    it('pulls through hosts.toml with the puller token', async () => {
      await ctrPull(`${PULLER}:${PULLER_TOKEN}`);
      const pulled = (await ctrImages(containerd.socket, 'e2e-auth')).find((i) => i.ref === `${UPSTREAM}/org/app:1`);
      expect(pulled?.digest).toBe(image.digest);
    });

    it('fails with a wrong token', async () => {
      await runCommand('ctr', ['--address', containerd.socket, '--namespace', 'e2e-auth', 'images', 'rm', `${UPSTREAM}/org/app:1`]);
      await expect(ctrPull(`${PULLER}:wrong-token`)).rejects.toThrow(/401|unauthorized|failed/i);
    });
  });
});
