import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool, freePort, httpAnswers, spawnDaemon, waitUntil } from './tools.js';

/**
 * nginx as the load balancer in front of Portcullis replicas, configured as a platform team would: streamed
 * bodies in both directions (no buffering of layers), keep-alive to the replicas, and an idempotent GET or
 * HEAD retried on the next replica when one refuses the connection or dies before answering.
 */
export interface LoadBalancer {
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export async function startLoadBalancer(backends: readonly string[], opts: { workers?: number } = {}): Promise<LoadBalancer> {
  const nginx = findTool('nginx') ?? '/usr/sbin/nginx';
  const dir = await mkdtemp(join(tmpdir(), 'lb-'));
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  const servers = backends.map((b) => `    server ${b.replace(/^https?:\/\//, '')} max_fails=1 fail_timeout=2s;`).join('\n');
  const conf = `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes ${opts.workers ?? 1};
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  keepalive_requests 1000000;
  upstream portcullis {
${servers}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://portcullis;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const daemon = await spawnDaemon(nginx, ['-p', dir, '-c', confPath]);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(`load balancer on ${url}`, async () => {
    if (!daemon.running()) throw new Error(`nginx exited:\n${daemon.lines().join('\n')}`);
    return httpAnswers(`${url}/healthz`, 200);
  });
  return { url, host: `127.0.0.1:${port}`, port, stop: async () => void (await daemon.stop('SIGQUIT')) };
}
