// The systems under test: the distribution upstream, distribution's own pull-through proxy (the peer),
// nginx serving the upstream's blob files straight from disk (the near-limit), and Portcullis.
import { mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The TypeScript test helpers, loaded through ./ts-hooks.mjs. */
export async function helpers() {
  const [tools, registry, proxy, postgres, lb] = await Promise.all([
    import('../../test/helpers/tools.ts'),
    import('../../test/helpers/registry.ts'),
    import('../../test/helpers/proxy.ts'),
    import('../../test/helpers/postgres.ts'),
    import('../../test/helpers/load-balancer.ts'),
  ]);
  return { ...tools, ...registry, ...proxy, ...postgres, ...lb };
}

export const UPSTREAM_NAME = 'upstream.test';

/** CNCF distribution as a pull-through cache (`proxy.remoteurl`), with its own storage. */
export async function startPeer(h, upstreamUrl, root) {
  const dir = await mkdtemp(join(root, 'peer-'));
  const port = await h.freePort();
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  cache:',
      '    blobdescriptor: inmemory',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: bench-not-a-secret',
      'proxy:',
      `  remoteurl: ${upstreamUrl}`,
      '',
    ].join('\n'),
  );
  const daemon = await h.spawnDaemon(h.REGISTRY_BIN, ['serve', configPath]);
  const url = `http://127.0.0.1:${port}`;
  await h.waitUntil(`peer on ${url}`, async () => {
    if (!daemon.running()) throw new Error(`peer exited:\n${daemon.lines().join('\n')}`);
    return h.httpAnswers(`${url}/v2/`, 200);
  });
  return { name: 'peer', url, pid: daemon.pid, stop: () => daemon.stop('SIGTERM') };
}

/** The top of a benchmark nginx config up to the inside of `http {`: its files in `dir`, every worker. */
function nginxPreamble(dir) {
  return `
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes auto;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${join(dir, 'tmp')};`).join('\n')}`;
}

/** nginx mapping /v2/<repo>/blobs|manifests/<digest> to the upstream registry's data files. */
export async function startNginx(h, registryDir, root) {
  const dir = await mkdtemp(join(root, 'nginx-'));
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await h.freePort();
  const blobs = join(registryDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const digestRe = (p) => `sha256:(?<${p}hex>(?<${p}pre>[0-9a-f]{2})[0-9a-f]{62})`;
  const conf = `${nginxPreamble(dir)}
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location ~ "^/v2/.+/blobs/${digestRe('b')}$" {
      default_type application/octet-stream;
      alias ${blobs}/$bpre/$bhex/data;
    }
    location ~ "^/v2/.+/manifests/${digestRe('m')}$" {
      default_type application/vnd.oci.image.manifest.v1+json;
      alias ${blobs}/$mpre/$mhex/data;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const daemon = await h.spawnDaemon(h.findTool('nginx') ?? '/usr/sbin/nginx', ['-p', dir, '-c', confPath]);
  const url = `http://127.0.0.1:${port}`;
  await h.waitUntil(`nginx on ${url}`, async () => {
    if (!daemon.running()) throw new Error(`nginx exited:\n${daemon.lines().join('\n')}`);
    return h.httpAnswers(`${url}/`);
  });
  return { name: 'nginx', url, pid: daemon.pid, stop: () => daemon.stop('SIGQUIT') };
}

/** The bare-Node floor (./bare-node.mjs) over the upstream's files. */
export async function startBareNode(h, registryDir, root) {
  const port = await h.freePort();
  const blobs = join(registryDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256');
  const script = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'bare-node.mjs');
  const daemon = await h.spawnDaemon(process.execPath, [script, blobs, String(port)]);
  const url = `http://127.0.0.1:${port}`;
  await h.waitUntil(`bare Node on ${url}`, async () => {
    if (!daemon.running()) throw new Error(`bare Node exited:\n${daemon.lines().join('\n')}`);
    return h.httpAnswers(`${url}/`, 404);
  });
  return { name: 'bare', url, pid: daemon.pid, stop: () => daemon.stop('SIGTERM') };
}

/**
 * Portcullis with `storage.offload.xAccelRedirect` behind nginx: the proxy decides and audits, nginx sends the
 * cached file with sendfile. nginx here is the README's example without TLS or request limits.
 */
export async function startOffloaded(h, upstreamUrl, root) {
  const dataDir = await mkdtemp(join(root, 'portcullis-offload-'));
  const storePath = join(dataDir, 'store');
  const proxy = await h.startProxy({
    upstreams: [{ name: UPSTREAM_NAME, url: upstreamUrl, tagTtl: '5m' }],
    extra: {
      log: { level: 'warn' }, server: { trustedProxies: ['127.0.0.1'] },
      storage: { path: storePath, offload: { xAccelRedirect: '/_portcullis/store/' } },
    },
    dataDir,
  });
  const front = await offloadFront(h, root, [proxy.url], storePath);
  return {
    name: 'offload', url: front.url, pid: front.pid, pids: [front.pid, await pidOf(proxy.configPath)], proxy,
    stop: async () => {
      await front.stop();
      await proxy.stop('SIGTERM');
    },
  };
}

/** nginx in front of Portcullis backends that share `storePath`, sending cached layers itself (X-Accel-Redirect). */
async function offloadFront(h, root, backends, storePath) {
  const dir = await mkdtemp(join(root, 'nginx-offload-'));
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await h.freePort();
  const conf = `${nginxPreamble(dir)}
  keepalive_requests 1000000;
  upstream portcullis { ${backends.map((b) => `server ${b.replace(/^http:\/\//, '')};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://portcullis;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 300s;
    }
    location /_portcullis/store/ {
      internal;
      alias ${storePath}/;
      sendfile on;
      tcp_nopush on;
      types { }
      default_type application/octet-stream;
      etag off;
      if_modified_since off;
      max_ranges 1;
      add_header Last-Modified "";
      add_header Docker-Content-Digest $upstream_http_docker_content_digest always;
      add_header ETag $upstream_http_etag always;
      error_page 404 = @portcullis_stream;
    }
    location @portcullis_stream {
      proxy_pass http://portcullis$request_uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Portcullis-No-Offload 1;
      proxy_buffering off;
    }
  }
}
`;
  const confPath = join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const daemon = await h.spawnDaemon(h.findTool('nginx') ?? '/usr/sbin/nginx', ['-p', dir, '-c', confPath]);
  const url = `http://127.0.0.1:${port}`;
  await h.waitUntil(`offload nginx on ${url}`, async () => {
    if (!daemon.running()) throw new Error(`nginx exited:\n${daemon.lines().join('\n')}`);
    return h.httpAnswers(`${url}/v2/`, 200);
  });
  return { url, pid: daemon.pid, stop: () => daemon.stop('SIGQUIT') };
}

/**
 * An S3-compatible store as its own process: s3rver (the test suite's store), or the endpoint given by
 * PORTCULLIS_TEST_S3_* (a MinIO or a real bucket), as the tests take it.
 */
export async function startObjectStore(h, root) {
  const e = process.env;
  if (e.PORTCULLIS_TEST_S3_ENDPOINT) {
    return {
      name: 'external S3', pid: undefined, stop: async () => {},
      section: (prefix) => ({
        endpoint: e.PORTCULLIS_TEST_S3_ENDPOINT, bucket: e.PORTCULLIS_TEST_S3_BUCKET, region: e.PORTCULLIS_TEST_S3_REGION ?? 'us-east-1',
        forcePathStyle: e.PORTCULLIS_TEST_S3_FORCE_PATH_STYLE !== 'false', prefix,
        accessKeyIdEnv: 'PORTCULLIS_TEST_S3_ACCESS_KEY_ID', secretAccessKeyEnv: 'PORTCULLIS_TEST_S3_SECRET_ACCESS_KEY',
      }),
      env: {},
    };
  }
  const dir = await mkdtemp(join(root, 's3rver-'));
  const port = await h.freePort();
  const bin = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', 'node_modules', 's3rver', 'bin', 's3rver.js');
  const daemon = await h.spawnDaemon(process.execPath, [bin, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent', '--configure-bucket', 'bench']);
  const endpoint = `http://127.0.0.1:${port}`;
  await h.waitUntil(`s3rver on ${endpoint}`, async () => {
    if (!daemon.running()) throw new Error(`s3rver exited:\n${daemon.lines().join('\n')}`);
    return h.httpAnswers(`${endpoint}/`);
  });
  return {
    name: 's3rver', pid: daemon.pid, stop: () => daemon.stop('SIGTERM'),
    section: (prefix) => ({
      endpoint, bucket: 'bench', region: 'us-east-1', forcePathStyle: true, prefix,
      accessKeyIdEnv: 'BENCH_S3_KEY', secretAccessKeyEnv: 'BENCH_S3_SECRET',
    }),
    env: { BENCH_S3_KEY: 'S3RVER', BENCH_S3_SECRET: 'S3RVER' },
  };
}

/** Portcullis keeping its blobs in the object store; with `redirect`, cached layers are answered with a 307 there. */
export async function startOnObjectStore(h, upstreamUrl, root, objectStore, { redirect = false } = {}) {
  const name = redirect ? 's3-redirect' : 's3';
  return startPortcullis(h, upstreamUrl, root, {
    name,
    extra: { storage: { path: join(await mkdtemp(join(root, `${name}-`)), 'tmp'), s3: { ...objectStore.section(`${name}/`), redirect } } },
    env: objectStore.env,
  });
}

/** Portcullis as its own process via the test helper; finds its pid for RSS and fd sampling. */
export async function startPortcullis(h, upstreamUrl, root, opts = {}) {
  const dataDir = await mkdtemp(join(root, 'portcullis-'));
  const proxy = await h.startProxy({
    upstreams: [{ name: UPSTREAM_NAME, url: upstreamUrl, tagTtl: '5m' }],
    policies: opts.policies,
    extra: { log: { level: 'warn' }, ...(opts.extra ?? {}) },
    dataDir,
    env: opts.env,
  });
  const pid = await pidOf(proxy.configPath);
  return { name: opts.name ?? 'portcullis', url: proxy.url, pid, proxy, dataDir, stop: () => proxy.stop('SIGTERM') };
}

/**
 * Portcullis as three replicas (one process each) on one throwaway PostgreSQL database and one shared store,
 * behind nginx as the load balancer and offload front: the deployment the README describes, on one machine.
 */
export async function startReplicas(h, upstreamUrl, root, count = 3) {
  const pg = await h.startPostgres();
  const url = await pg.createDatabase('bench');
  const store = join(root, 'replicas-store');
  await mkdir(store, { recursive: true });
  const replicas = [];
  for (let i = 0; i < count; i++) {
    replicas.push(
      await h.startProxy({
        upstreams: [{ name: UPSTREAM_NAME, url: upstreamUrl, tagTtl: '5m' }],
        extra: {
          log: { level: 'warn' }, database: { urlEnv: 'BENCH_DATABASE_URL' }, server: { workers: 1, trustedProxies: ['127.0.0.1'] },
          storage: { path: store, offload: { xAccelRedirect: '/_portcullis/store/' } },
        },
        dataDir: await mkdtemp(join(root, `replica-${i}-`)),
        env: { BENCH_DATABASE_URL: url },
      }),
    );
  }
  // The load balancer is the offload front too: replicas decide and audit, nginx sends cached layers.
  const lb = await offloadFront(h, root, replicas.map((r) => r.url), store);
  return {
    name: 'replicas',
    url: lb.url,
    stop: async () => {
      await lb.stop();
      for (const r of replicas) await r.stop('SIGTERM');
      await pg.destroy();
    },
  };
}

/**
 * The pid of the process whose command line names `needle` (the helper does not expose it). Workers share
 * their supervisor's command line; the supervisor started first, so it has the lowest pid.
 */
export async function pidOf(needle) {
  const found = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (cmd.includes(needle)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  if (found.length === 0) throw new Error(`no process with ${needle} on its command line`);
  return Math.min(...found);
}

/** VmRSS and VmHWM in bytes. */
export async function memoryOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** RSS summed over a process and its children (nginx workers), and the largest single process's. */
export async function treeRss(pid) {
  return (await treeRssParts(pid)).total;
}

export async function treeRssParts(pid) {
  const own = (await memoryOf(pid)).rss;
  let total = own;
  let largest = own;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const rss = (await memoryOf(Number(entry))).rss;
      total += rss;
      largest = Math.max(largest, rss);
    } catch {
      // exited meanwhile
    }
  }
  return { total, largest };
}

/** Open descriptors: all, and those that are files (not sockets, pipes or event fds). */
export async function fdCount(pid) {
  const fds = await readdir(`/proc/${pid}/fd`);
  let files = 0;
  for (const fd of fds) {
    try {
      if ((await readlink(`/proc/${pid}/fd/${fd}`)).startsWith('/')) files++;
    } catch {
      // closed meanwhile
    }
  }
  return { total: fds.length, files };
}

export async function benchRoot() {
  return mkdtemp(join(tmpdir(), 'portcullis-bench-'));
}
