import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

/** Shared bits of the end-to-end suites: temp dirs, digests, and the OCI error-body assertion. */

/** The upstream name every suite configures; clients address it by path prefix or `?ns=`. */
export const UPSTREAM = 'upstream.test';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const ACCEPT_ALL_MANIFESTS = [
  OCI_MANIFEST,
  OCI_INDEX,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

const created: string[] = [];

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `e2e-${prefix}-`));
  created.push(dir);
  return dir;
}

/** Removes what tempDir made, unless E2E_KEEP is set for a post-mortem. */
export async function removeTempDirs(...more: string[]): Promise<void> {
  if (process.env.E2E_KEEP) return;
  const dirs = [...created.splice(0), ...more];
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

export function sha256(bytes: Buffer | Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function bodyBytes(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

/** Asserts an OCI error response: the status, a JSON `{"errors":[{"code",...}]}` body, and the code. */
export async function expectOciError(res: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  const context = `${res.status} ${text}`;
  expect(res.status, context).toBe(status);
  expect(res.headers.get('content-type') ?? '', context).toMatch(/json/);
  const body = JSON.parse(text) as { errors?: Array<Record<string, unknown>> };
  expect(Array.isArray(body.errors), context).toBe(true);
  expect(body.errors![0]!.code, context).toBe(code);
  expect(typeof body.errors![0]!.message, context).toBe('string');
  return body.errors![0]!;
}
