import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, cli, workspace, type Workspace } from '../admin/fixture.js';
import { haveS3, S3_KEY_ENV, S3_SECRET_ENV, startS3, type S3Store } from '../../helpers/s3.js';

/** check-config and serve say plainly why a configured bucket cannot be used, and never print its secret. */
describe.skipIf(!haveS3())('storage.s3 that cannot be used', () => {
  let s3: S3Store;
  let ws: Workspace;
  beforeAll(async () => {
    s3 = await startS3();
    ws = await workspace('s3-check');
  }, 60_000);
  afterAll(async () => {
    await ws?.remove();
    await s3?.destroy();
  });

  async function check(section: Record<string, unknown>, env: Record<string, string> = s3.env) {
    await ws.write(baseConfig({ storage: { path: './store', s3: s3.section(section) } }));
    return cli(['check-config', '--config', ws.configPath], { ...process.env, ...env });
  }

  it('passes a bucket it can reach', async () => {
    const ok = await check({});
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('names a missing bucket, refused credentials and an endpoint that does not answer', async () => {
    const missing = await check({ bucket: 'no-such-bucket-here' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/storage\.s3: .*no-such-bucket-here.*the bucket does not exist/);
    const refused = await check({}, { [S3_KEY_ENV]: 'NOT-A-KEY', [S3_SECRET_ENV]: 'a-wrong-secret-value' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/storage\.s3: .*credentials were refused/);
    expect(refused.stderr + refused.stdout).not.toContain('a-wrong-secret-value');
    const unreachable = await check({ endpoint: 'http://127.0.0.1:9' });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/storage\.s3: .*endpoint cannot be reached/);
  }, 60_000);

  it('refuses a half-named credential pair and an unset variable', async () => {
    const half = await check({ secretAccessKeyEnv: undefined });
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/storage\.s3\.secretAccessKeyEnv: accessKeyIdEnv and secretAccessKeyEnv go together/);
    const env = { ...process.env };
    delete env[S3_KEY_ENV];
    await ws.write(baseConfig({ storage: { path: './store', s3: s3.section({}) } }));
    const without = await cli(['check-config', '--config', ws.configPath], env);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain(`environment variable ${S3_KEY_ENV} is not set`);
  });
});
