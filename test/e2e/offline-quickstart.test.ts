import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, haveTools } from '../helpers/tools.js';
import { removeTempDirs, tempDir } from './support.js';

const run = promisify(execFile);
const skip = !haveTools(['docker-registry', 'skopeo', 'openssl', 'curl']);

// The README's offline walkthrough, run as a newcomer would: one script, nothing from the internet.
describe.skipIf(skip)('offline quick start (examples/offline/run.sh)', () => {
  afterAll(() => removeTempDirs());

  it('signs a local image with a throwaway key, serves it, and denies the unsigned one with its reason', async () => {
    const work = await tempDir('offline');
    const env = { ...process.env, WORK: work, PORTCULLIS_PORT: String(await freePort()), REGISTRY_PORT: String(await freePort()) };
    const { stdout } = await run(join(import.meta.dirname, '../../examples/offline/run.sh'), [], { env, timeout: 120_000 });
    expect(stdout).toContain('pulled local/demo/hello:1');
    // skopeo quotes the proxy's message in its own log line, escaping the inner quotes.
    expect(stdout).toMatch(/denied: portcullis: policy \\?"demo-signed\\?": no signature by key \\?"demo\\?"/);
    // The audit log, printed as CSV at the end, has one allowed and one denied manifest pull.
    const rows = stdout.split('\n').filter((l) => l.includes('pull.manifest'));
    expect(rows.some((r) => r.includes('local/demo/hello') && r.includes('allow'))).toBe(true);
    expect(rows.some((r) => r.includes('local/demo/unsigned') && r.includes('deny'))).toBe(true);
  }, 150_000);
});
