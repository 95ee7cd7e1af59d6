#!/usr/bin/env node
// Signs an image the way `cosign sign --key` does without a transparency log (`--tlog-upload=false`): a
// simple-signing payload naming the manifest digest, signed with an ECDSA P-256 key, pushed as the
// `sha256-<hex>.sig` tag beside the image. Use cosign itself when you have it; this exists so the
// walkthrough needs nothing from the internet.
//   node sign-image.mjs 127.0.0.1:5001/demo/hello:1 cosign.key.pem
import { readFileSync } from 'node:fs';
import { createPrivateKey, sign } from 'node:crypto';
import { OCI_CONFIG, OCI_MANIFEST, manifestDigest, parseImage, pushBlob, pushManifest, sha256 } from './registry-client.mjs';

const [ref, keyFile] = process.argv.slice(2);
if (!ref || !keyFile) {
  process.stderr.write('usage: node sign-image.mjs HOST:PORT/REPOSITORY:TAG PRIVATE-KEY.pem\n');
  process.exit(2);
}
const { host, base, repository, tag } = parseImage(ref);
const digest = await manifestDigest(base, repository, tag);
// cosign's exact payload bytes (Go struct field order, no whitespace).
const payload = Buffer.from(JSON.stringify({
  critical: { identity: { 'docker-reference': `${host}/${repository}` }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
  optional: null,
}));
const signature = sign('sha256', payload, createPrivateKey(readFileSync(keyFile))).toString('base64');
const config = Buffer.from(JSON.stringify({
  architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '',
  rootfs: { type: 'layers', diff_ids: [sha256(payload)] }, config: {},
}));
const layer = {
  ...(await pushBlob(base, repository, payload)),
  mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
  annotations: { 'dev.cosignproject.cosign/signature': signature },
};
const configDesc = { ...(await pushBlob(base, repository, config)), mediaType: OCI_CONFIG };
const sigTag = `${digest.replace(':', '-')}.sig`;
await pushManifest(base, repository, sigTag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: [layer] });
process.stdout.write(`signed ${ref} (${digest}) as ${repository}:${sigTag}\n`);
