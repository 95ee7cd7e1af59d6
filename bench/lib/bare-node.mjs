// The floor of serving bytes through JavaScript: a minimal Node file server (no framework, no checks) that maps
// /v2/<repo>/blobs/<digest> to distribution's blob files, as the nginx near-limit does. Started as its own process.
import { createReadStream, stat } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const [blobsDir, port] = process.argv.slice(2);
const BLOB = /^\/v2\/.+\/(?:blobs|manifests)\/sha256:([0-9a-f]{64})$/;
createServer((req, res) => {
  const hex = BLOB.exec(req.url ?? '')?.[1];
  if (!hex) return void res.writeHead(404).end();
  const path = join(blobsDir, hex.slice(0, 2), hex, 'data');
  stat(path, (err, s) => {
    if (err) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': s.size, 'content-type': 'application/octet-stream' });
    createReadStream(path, { highWaterMark: 1 << 20 }).pipe(res);
  });
}).listen(Number(port), '127.0.0.1', () => console.log('listening'));
