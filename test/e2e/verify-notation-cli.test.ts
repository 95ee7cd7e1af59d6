import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNotationCa, signCose, signJws, writeTrustStore } from '../helpers/pki/notation.js';
import { createTestImage, descriptorOf } from '../helpers/pki/oci.js';
import { CLI } from '../helpers/proxy.js';

/** `portcullis verify-notation`: one envelope judged offline by the proxy's verifier, for "why is this refused". */
describe('portcullis verify-notation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'verify-notation-'));
  const ca = createNotationCa();
  writeTrustStore(join(dir, 'store'), 'ca', 'acme', [ca.pem]);
  const image = createTestImage('cli');
  const other = createTestImage('other');
  const leaf = ca.issue({ subject: { C: 'US', ST: 'WA', O: 'Acme', CN: 'release' } });
  const file = (name: string, bytes: Buffer) => (writeFileSync(join(dir, name), bytes), join(dir, name));
  const manifest = file('manifest.json', image.manifest);
  const run = (...args: string[]) => {
    const out = spawnSync(process.execPath, [CLI, 'verify-notation', '--trust-store-dir', join(dir, 'store'), '--manifest', manifest, ...args], { encoding: 'utf8' });
    return { status: out.status, json: out.stdout ? (JSON.parse(out.stdout) as Record<string, unknown>) : undefined, stderr: out.stderr };
  };

  it('prints the signer and exits 0 for a signature that verifies and meets the entry', () => {
    const jws = file('sig.jws', signJws({ signer: leaf, target: descriptorOf(image) }));
    const ok = run('--envelope', jws, '--trust-store', 'ca:acme', '--identity', 'x509.subject: O=Acme, CN=release');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({ verified: true, meetsEntry: true, signer: { type: 'notation', subject: 'C=US, ST=WA, O=Acme, CN=release', envelope: 'jws' } });
    const cose = run('--envelope', file('sig.cose', signCose({ signer: leaf, target: descriptorOf(image) })));
    expect(cose.status).toBe(0);
    expect(cose.json).toMatchObject({ verified: true, signer: { envelope: 'cose', trustStores: ['ca:acme'] } });
  });

  it('exits 3 with the reason for another identity or another manifest, and 2 for a bad entry', () => {
    const jws = file('sig2.jws', signJws({ signer: leaf, target: descriptorOf(image) }));
    const wrong = run('--envelope', jws, '--trust-store', 'ca:acme', '--identity', 'x509.subject: CN=someone-else');
    expect(wrong.status).toBe(3);
    expect(wrong.json).toMatchObject({ verified: true, meetsEntry: false });
    const elsewhere = run('--envelope', file('sig3.jws', signJws({ signer: leaf, target: descriptorOf(other) })));
    expect(elsewhere.status).toBe(3);
    expect(String(elsewhere.json!.reason)).toMatch(/^DIGEST_MISMATCH: the signature is for sha256:/);
    const junk = run('--envelope', file('junk', Buffer.from([0xff, 0x00])));
    expect(junk.status).toBe(3);
    expect(String(junk.json!.reason)).toMatch(/^MALFORMED: /);
    const bad = run('--envelope', jws, '--trust-store', 'acme');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/must be "ca:<name>" or "signingAuthority:<name>"/);
  });
});
