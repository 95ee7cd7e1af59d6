import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseConfig, cli, workspace, type Workspace } from '../admin/fixture.js';
import { writeArchive, type ArchiveEntries } from '../../helpers/oci-archive.js';
import { tarOf } from '../../helpers/registry.js';

const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Names, lists and archives people get wrong: each is a clear error naming where, never a crash or a partial file. */
describe('export and import: bad input', { timeout: 180_000 }, () => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = await workspace('transfer-bad');
    await ws.write(baseConfig());
  });
  afterAll(() => ws.remove());

  const layoutOf = (index: unknown): ArchiveEntries =>
    new Map([
      ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
      ['index.json', Buffer.from(typeof index === 'string' ? index : JSON.stringify(index))],
    ]);

  it('names every bad image, argument or list line, and writes nothing', async () => {
    const list = join(ws.dir, 'images.txt');
    await writeFile(list, ['# release images', '', 'upstream.test/acme/app:1', 'upstream.test/acme/app:1  # again', 'quay.io/acme/app:1', 'upstream.test/acme/app:bad tag'].join('\n'));
    const out = join(ws.dir, 'out.tar');
    const run = await cli(['export', '--config', ws.configPath, '--out', out, '--file', list, 'upstream.test/Acme/App:1', 'upstream.test/acme/app@sha256:zz']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('argument 1: "upstream.test/Acme/App:1"');
    expect(run.stderr).toMatch(/argument 2: "upstream\.test\/acme\/app@sha256:zz": invalid digest/);
    expect(run.stderr).toMatch(/images\.txt:5: "quay\.io\/acme\/app:1": "quay\.io" is not a configured upstream/);
    expect(run.stderr).toMatch(/images\.txt:6: "upstream\.test\/acme\/app:bad tag": an image name has no spaces/);
    // Comments, blank lines and the duplicate on line 4 are not errors.
    expect(run.stderr).not.toMatch(/images\.txt:[1-4]:/);
    expect(existsSync(out)).toBe(false);
  });

  it('says an unreachable upstream failed the export, and leaves no archive or temp file', async () => {
    const out = join(ws.dir, 'unreachable.tar');
    const run = await cli(['export', '--config', ws.configPath, '--out', out, 'upstream.test/acme/app:1']);
    expect(run.code).toBe(4);
    expect(run.stdout).toMatch(/"decision":"error"/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(ws.dir)).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('refuses archives that are not OCI layouts, truncated or damaged, naming the file and what is wrong', async () => {
    const file = (name: string) => join(ws.dir, name);
    await writeFile(file('text.tar'), 'this is not a tar archive at all, just some words\n'.repeat(20));
    await writeFile(file('plain.tar'), tarOf('hello.txt', Buffer.from('hi')));
    await writeFile(file('empty.tar'), '');
    const good = layoutOf({ schemaVersion: 2, manifests: [] });
    const big = Buffer.alloc(64 * 1024, 7);
    good.set(`blobs/sha256/${digest(big).slice(7)}`, big);
    await writeArchive(file('whole.tar'), good);
    const { readFile } = await import('node:fs/promises');
    const whole = await readFile(file('whole.tar'));
    await writeFile(file('truncated.tar'), whole.subarray(0, 20_000));
    await writeFile(file('bundle.tar.gz'), gzipSync(whole));
    await writeArchive(file('bad-json.tar'), layoutOf('{"schemaVersion": 2,\n "manifests": [\n'));
    await writeArchive(file('bad-digest.tar'), layoutOf({ schemaVersion: 2, manifests: [{ mediaType: 'x', digest: 'md5:abc', size: 1 }] }));
    await writeArchive(file('no-names.tar'), good);

    const cases: Array<[string, number, RegExp]> = [
      ['text.tar', 2, /text\.tar is not a readable tar archive/],
      ['plain.tar', 2, /plain\.tar is not an OCI image layout: it has no oci-layout file/],
      ['empty.tar', 2, /empty\.tar is empty/],
      ['truncated.tar', 2, /truncated\.tar is truncated/],
      ['bundle.tar.gz', 2, /bundle\.tar\.gz is gzip-compressed; decompress it first/],
      ['bad-json.tar', 2, /bad-json\.tar: index\.json is not valid JSON at line 3, column 1 \(/],
      ['bad-digest.tar', 2, /bad-digest\.tar: index\.json manifests\[0\]\.digest is not a digest/],
      ['missing.tar', 2, /missing\.tar: no such file/],
      ['no-names.tar', 4, /no-names\.tar names no images/],
    ];
    const runs = await Promise.all(cases.map(([name]) => cli(['import', '--config', ws.configPath, file(name)])));
    runs.forEach((run, i) => {
      const [name, code, message] = cases[i]!;
      expect(run.stderr, name).toMatch(message);
      expect(run.code, `${name}: ${run.stderr}`).toBe(code);
      expect(run.stderr, name).not.toMatch(/at .*\.js:\d+/); // a message, not a stack trace
    });
  });

  it('refuses images named under an unknown upstream or with an invalid reference, naming the index entry', async () => {
    const entries = layoutOf('');
    const add = (bytes: Buffer) => {
      entries.set(`blobs/sha256/${digest(bytes).slice(7)}`, bytes);
      return { digest: digest(bytes), size: bytes.length };
    };
    const config = add(Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [],
    }));
    const m = add(manifest);
    const entry = (name: string) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': name } });
    entries.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [entry('quay.io/acme/app:1'), entry('upstream.test/Acme/App:1')] })));
    const archive = join(ws.dir, 'names.tar');
    await writeArchive(archive, entries);
    const run = await cli(['import', '--config', ws.configPath, archive]);
    expect(run.code, run.stderr).toBe(3);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { image?: string; decision?: string; reasons?: string[] });
    expect(lines[0]).toMatchObject({ image: 'quay.io/acme/app:1', decision: 'deny' });
    expect(String(lines[0]!.reasons)).toMatch(/index\.json manifests\[0\]: "quay\.io\/acme\/app:1": "quay\.io" is not a configured upstream/);
    expect(lines[1]).toMatchObject({ image: 'upstream.test/Acme/App:1', decision: 'deny' });
    expect(String(lines[1]!.reasons)).toMatch(/index\.json manifests\[1\]: "upstream\.test\/Acme\/App:1": .*invalid/i);
  });
});
