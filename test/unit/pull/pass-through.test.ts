import { describe, expect, it } from 'vitest';
import { collect } from '../../helpers/streams.js';
import { PassThrough } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { PassThroughBlob } from '../../../src/pull/pass-through.js';
import { sha256 } from '../../../src/oci/digest.js';

/** The no-room path: a blob streamed straight through, still digest-checked, last chunk held back. */

function feed(data: Buffer): PassThrough {
  const body = new PassThrough();
  for (let at = 0; at < data.length; at += 16 * 1024) body.write(data.subarray(at, at + 16 * 1024));
  body.end();
  return body;
}

describe('PassThroughBlob', () => {
  it('streams the whole verified blob to one client', async () => {
    const data = randomBytes(200_000);
    const blob = new PassThroughBlob(sha256(data), data.length, feed(data), () => {});
    const got = await collect(blob.createReader());
    expect(got.error).toBeUndefined();
    expect(got.bytes.equals(data)).toBe(true);
  });

  it('never completes a body with the wrong digest, and reports it', async () => {
    const data = randomBytes(200_000);
    const forged = Buffer.from(data);
    forged[100] ^= 1;
    const failures: Error[] = [];
    const blob = new PassThroughBlob(sha256(data), data.length, feed(forged), (e) => failures.push(e));
    const got = await collect(blob.createReader());
    expect(got.error?.message).toMatch(/digest/);
    expect(got.bytes.length).toBeLessThan(data.length);
    expect(failures).toHaveLength(1);
  });

  it('refuses ranges and a second reader, which would need the cache', () => {
    const data = randomBytes(1000);
    expect(() => new PassThroughBlob(sha256(data), data.length, feed(data), () => {}).createReader(10, 20)).toThrow(/out of space/);
    const once = new PassThroughBlob(sha256(data), data.length, feed(data), () => {});
    once.createReader().resume();
    expect(() => once.createReader()).toThrow(/out of space/);
  });
});
