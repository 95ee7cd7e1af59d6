import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './proxy.js';
import { findTool, freePort, spawnDaemon, waitUntil } from './tools.js';

/**
 * nginx running the shipped examples/nginx/portcullis.conf, with only its site-specific values replaced (the
 * proxy's address, a loopback TLS port, a fresh self-signed certificate, storage.path). Each replacement must
 * hit, so an edit of the example that a platform team would also have to notice breaks the test.
 */
export const EXAMPLE_CONF = join(REPO_ROOT, 'examples', 'nginx', 'portcullis.conf');

export interface OffloadNginx {
  /** `https://127.0.0.1:PORT` */
  url: string;
  host: string;
  /** The self-signed certificate (PEM) clients must trust. */
  caPath: string;
  ca: Buffer;
  /** Lines of the access log: `<request_uri> <uri after redirects> <status> <body bytes>`. */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startOffloadNginx(opts: { backend: string; storePath: string }): Promise<OffloadNginx> {
  const nginx = findTool('nginx') ?? '/usr/sbin/nginx';
  const dir = await mkdtemp(join(tmpdir(), 'offload-nginx-'));
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  const caPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', keyPath, '-out', caPath,
  ], { stdio: 'ignore' });

  let site = await readFile(EXAMPLE_CONF, 'utf8');
  const replace = (from: string, to: string) => {
    if (!site.includes(from)) throw new Error(`${EXAMPLE_CONF} no longer contains ${JSON.stringify(from)}`);
    site = site.split(from).join(to);
  };
  replace('server 127.0.0.1:5000;', `server ${opts.backend.replace(/^https?:\/\//, '')};`);
  replace('listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
  replace('/etc/nginx/tls/registry.crt', caPath);
  replace('/etc/nginx/tls/registry.key', keyPath);
  replace('alias /var/lib/portcullis/store/;', `alias ${opts.storePath.replace(/\/?$/, '/')};`);
  await writeFile(join(dir, 'portcullis.conf'), site);

  const logPath = join(dir, 'access.log');
  const conf = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  log_format offload '$request_uri $uri $status $body_bytes_sent';
  access_log ${logPath} offload;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  include ${join(dir, 'portcullis.conf')};
}
`;
  const confPath = join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const daemon = await spawnDaemon(nginx, ['-p', dir, '-c', confPath]);
  const url = `https://127.0.0.1:${port}`;
  const { Agent, fetch } = await import('undici');
  const ca = await readFile(caPath);
  const agent = new Agent({ connect: { ca } });
  await waitUntil(`nginx on ${url}`, async () => {
    if (!daemon.running()) throw new Error(`nginx exited:\n${daemon.lines().join('\n')}`);
    const res = await fetch(`${url}/healthz`, { dispatcher: agent, signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  });
  await agent.close();
  return {
    url,
    host: `127.0.0.1:${port}`,
    caPath,
    ca,
    accessLog: async () => (await readFile(logPath, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    stop: async () => void (await daemon.stop('SIGQUIT')),
  };
}
