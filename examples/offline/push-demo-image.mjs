#!/usr/bin/env node
// Pushes a tiny valid image (one gzipped tar layer holding hello.txt) to a registry over plain HTTP:
//   node push-demo-image.mjs 127.0.0.1:5001/demo/hello:1 "some text"
import { gzipSync } from 'node:zlib';
import { OCI_CONFIG, OCI_MANIFEST, parseImage, pushBlob, pushManifest, sha256 } from './registry-client.mjs';

function tarWithOneFile(name, content) {
  const header = Buffer.alloc(512);
  const field = (text, offset, length) => header.write(text, offset, length, 'ascii');
  field(name, 0, 100);
  field('0000644\0', 100, 8);
  field('0000000\0', 108, 8);
  field('0000000\0', 116, 8);
  field(`${content.length.toString(8).padStart(11, '0')}\0`, 124, 12);
  field('00000000000\0', 136, 12);
  field('        ', 148, 8); // the checksum is computed with its own field as spaces
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  const sum = header.reduce((a, b) => a + b, 0);
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(padded);
  return Buffer.concat([header, padded, Buffer.alloc(1024)]);
}

const [ref, text = 'hello from an offline registry'] = process.argv.slice(2);
if (!ref) {
  process.stderr.write('usage: node push-demo-image.mjs HOST:PORT/REPOSITORY:TAG [TEXT]\n');
  process.exit(2);
}
const { base, repository, tag } = parseImage(ref);
const tar = tarWithOneFile('hello.txt', Buffer.from(`${text}\n`));
const layer = gzipSync(tar);
const config = Buffer.from(JSON.stringify({
  architecture: 'amd64', os: 'linux', created: new Date().toISOString(),
  config: { Cmd: ['cat', '/hello.txt'] }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
}));
const layerDesc = { ...(await pushBlob(base, repository, layer)), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
const configDesc = { ...(await pushBlob(base, repository, config)), mediaType: OCI_CONFIG };
const digest = await pushManifest(base, repository, tag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers: [layerDesc] });
process.stdout.write(`pushed ${ref} (${digest})\n`);
