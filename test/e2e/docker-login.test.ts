import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { auditRows } from '../helpers/audit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocker, type DockerDaemon } from '../helpers/docker.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { pushImage, startRegistry, type PushedImage, type Registry } from '../helpers/registry.js';
import { haveRoot, haveTools } from '../helpers/tools.js';
import { removeTempDirs, tempDir, UPSTREAM } from './support.js';
import { execFile } from 'node:child_process';
import { startJwtIssuer, type JwtIssuer } from '../helpers/jwt-issuer.js';

/** `auth.pull: "token"` with the Docker CLI: `docker login` with a puller token, then a pull named in the audit log. */
const skip = !haveTools(['docker-registry', 'dockerd', 'docker']) || !haveRoot();
const TOKEN = 'e2e-docker-puller-5b7a';

describe.skipIf(skip)('docker login', () => {
  let registry: Registry;
  let proxy: Proxy;
  let daemon: DockerDaemon;
  let image: PushedImage;
  let issuer: JwtIssuer;
  let dockerDir: string;

  beforeAll(async () => {
    registry = await startRegistry({ dir: await tempDir('registry') });
    image = await pushImage(registry.url, 'org/app', '1', { mediaTypeStyle: 'docker' });
    issuer = await startJwtIssuer();
    proxy = await startProxy({
      upstreams: [{ name: UPSTREAM, url: registry.url }],
      dataDir: await tempDir('proxy'),
      extra: {
        auth: {
          pull: 'token',
          tokens: [{ name: 'deployer', role: 'puller', tokenSha256: createHash('sha256').update(TOKEN).digest('hex') }],
          oidc: { issuers: [{ name: 'ci', issuer: issuer.url, audience: 'portcullis', subject: 'repo:org/app:ref:refs/heads/main' }] },
        },
      },
    });
    dockerDir = await tempDir('docker');
    daemon = await startDocker({ dir: dockerDir });
  }, 180_000);

  afterAll(async () => {
    await daemon?.stop();
    await proxy?.stop();
    await registry?.stop();
    await issuer?.stop();
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

  /** `docker login -u oidc --password-stdin`, the token on stdin as a CI job pipes it. */
  const loginWithStdin = (token: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(
        'docker', ['--config', join(dockerDir, 'client'), '--host', `unix://${daemon.socket}`, 'login', proxy.host, '-u', 'oidc', '--password-stdin'],
        { timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${stderr}${stdout}`)) : resolve(stdout)),
      );
      child.stdin!.end(token);
    });

  it('logs in with a workload JWT on stdin and pulls as the workload; a refused JWT says why', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await issuer.mint({ sub: 'repo:org/app:ref:refs/heads/main', aud: 'portcullis', iat: now - 3600, exp: now - 60 });
    // docker login shows only the status; the reason is in the auth.failure event (skopeo prints it).
    await expect(loginWithStdin(expired)).rejects.toThrow(/401 Unauthorized/);
    const failures = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'auth.failure' AND user = 'oidc'");
    expect(failures.map((r) => r.reasons).join('\n')).toMatch(/JWT refused: expired/);
    await loginWithStdin(await issuer.mint({ sub: 'repo:org/app:ref:refs/heads/main', aud: 'portcullis' }));
    await daemon.docker(['rmi', `${proxy.host}/${UPSTREAM}/org/app:1`]).catch(() => undefined);
    const out = await daemon.docker(['pull', `${proxy.host}/${UPSTREAM}/org/app:1`]);
    expect(out.stdout).toContain(`Digest: ${image.digest}`);
    const served = auditRows(join(proxy.dataDir, 'portcullis.db'), "kind = 'pull.manifest' AND status = 200 AND user LIKE 'repo:%'");
    expect(served.map((r) => r.user)).toContain('repo:org/app:ref:refs/heads/main (ci)');
  });
});
