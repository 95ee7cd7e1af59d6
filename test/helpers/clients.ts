import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findTool, spawnDaemon, waitUntil, type Daemon } from './tools.js';

/**
 * Real registry clients: skopeo (containers/image) and containerd's ctr. Both talk plain HTTP to loopback.
 */

const run = promisify(execFile);

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command; on failure the error message carries the full command line, stdout and stderr. */
export async function runCommand(command: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(command, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { stdout, stderr };
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string; code?: unknown };
    throw new Error(
      `${command} ${args.join(' ')} failed (${String(e.code)}):\n${e.stderr ?? ''}${e.stdout ?? ''}`.trim(),
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// skopeo

export interface SkopeoOptions {
  /** `oci` keeps an OCI image layout; `dir` keeps the manifest bytes exactly as served (any media type). */
  format?: 'oci' | 'dir';
  overrideArch?: string;
  overrideOs?: string;
  /** Copy every platform of an index. */
  all?: boolean;
}

/** Flags that keep skopeo on plain HTTP, off the host's trust policy and off any stored credentials. */
function skopeoGlobal(): string[] {
  return ['--insecure-policy'];
}

function platformFlags(opts: { overrideArch?: string; overrideOs?: string }): string[] {
  return [
    ...(opts.overrideArch ? ['--override-arch', opts.overrideArch] : []),
    ...(opts.overrideOs ? ['--override-os', opts.overrideOs] : []),
  ];
}

/**
 * `skopeo copy docker://SRC <format>:DEST`. `src` is `HOST:PORT/name:tag` or `HOST:PORT/name@digest`.
 */
export async function skopeoCopy(src: string, destDir: string, opts: SkopeoOptions = {}): Promise<CommandResult> {
  const format = opts.format ?? 'oci';
  return runCommand('skopeo', [
    ...skopeoGlobal(),
    ...platformFlags(opts),
    'copy',
    '--src-tls-verify=false',
    '--src-no-creds',
    '--preserve-digests',
    ...(opts.all ? ['--all'] : []),
    `docker://${src}`,
    `${format}:${destDir}`,
  ]);
}

/** `skopeo inspect --raw`: the manifest bytes exactly as the registry served them. */
export async function skopeoInspectRaw(src: string): Promise<Buffer> {
  const { stdout } = await runCommand('skopeo', [
    ...skopeoGlobal(),
    'inspect',
    '--raw',
    '--tls-verify=false',
    '--no-creds',
    `docker://${src}`,
  ]);
  return Buffer.from(stdout);
}

/** `skopeo list-tags`. */
export async function skopeoListTags(repo: string): Promise<string[]> {
  const { stdout } = await runCommand('skopeo', [...skopeoGlobal(), 'list-tags', '--tls-verify=false', '--no-creds', `docker://${repo}`]);
  return (JSON.parse(stdout) as { Tags: string[] }).Tags;
}

export interface CopiedImage {
  /** Digest of the manifest as stored (for `oci`, from index.json; for `dir`, of manifest.json). */
  manifestDigest: string;
  manifest: { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
  manifestBytes: Buffer;
}

/** Reads what skopeoCopy wrote (single image, not --all). */
export async function readCopiedImage(destDir: string, format: 'oci' | 'dir' = 'oci'): Promise<CopiedImage> {
  const { createHash } = await import('node:crypto');
  let manifestBytes: Buffer;
  if (format === 'oci') {
    const index = JSON.parse(await readFile(join(destDir, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    const digest = index.manifests[0]!.digest;
    manifestBytes = await readFile(join(destDir, 'blobs', ...digest.split(':')));
  } else {
    manifestBytes = await readFile(join(destDir, 'manifest.json'));
  }
  const manifestDigest = `sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`;
  return { manifestDigest, manifest: JSON.parse(manifestBytes.toString('utf8')), manifestBytes };
}

/** Bytes of a blob in a skopeo destination. */
export async function readCopiedBlob(destDir: string, digest: string, format: 'oci' | 'dir' = 'oci'): Promise<Buffer> {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return readFile(format === 'oci' ? join(destDir, 'blobs', algorithm, hex) : join(destDir, hex));
}

// ---------------------------------------------------------------------------------------------------------
// containerd

export interface Containerd {
  socket: string;
  dir: string;
  stop(): Promise<void>;
  logs(): string[];
}

/** A private root containerd: own config, root, state and socket under a temp dir; CRI disabled. */
export async function startContainerd(options: { dir?: string; snapshotter?: string } = {}): Promise<Containerd> {
  const binary = findTool('containerd');
  if (!binary) throw new Error('containerd is not installed');
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'e2e-containerd-')));
  const socket = join(dir, 'containerd.sock');
  const configPath = join(dir, 'config.toml');
  await writeFile(
    configPath,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      // CRI wants CNI and a pause image; nothing here runs pods.
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(dir, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const daemon: Daemon = await spawnDaemon(binary, ['--config', configPath, '--log-level', 'info']);
  await waitUntil(`containerd on ${socket}`, async () => {
    if (!daemon.running()) throw new Error(`containerd exited:\n${daemon.lines().join('\n')}`);
    await runCommand('ctr', ['--address', socket, 'version'], 5_000);
    return true;
  });
  return {
    socket,
    dir,
    async stop() {
      await daemon.stop('SIGTERM');
    },
    logs: () => daemon.lines(),
  };
}

/**
 * Writes `<hostsDir>/<registryName>/hosts.toml` sending pulls for `registryName` to `mirrorUrl`, which
 * containerd then calls with `?ns=<registryName>`. The server is a closed loopback port so a failing mirror
 * cannot fall back to anything real.
 */
export async function writeHostsToml(hostsDir: string, registryName: string, mirrorUrl: string): Promise<string> {
  const dir = join(hostsDir, registryName);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'hosts.toml'),
    [
      'server = "http://127.0.0.1:9"',
      '',
      `[host."${mirrorUrl}"]`,
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n'),
  );
  return hostsDir;
}

export interface CtrPullOptions {
  hostsDir: string;
  platform?: string;
  namespace?: string;
}

/** `ctr images pull` (which also unpacks); returns ctr's output. */
export async function ctrPull(socket: string, ref: string, opts: CtrPullOptions): Promise<CommandResult> {
  return runCommand('ctr', [
    '--address',
    socket,
    '--namespace',
    opts.namespace ?? 'e2e',
    'images',
    'pull',
    '--hosts-dir',
    opts.hostsDir,
    ...(opts.platform ? ['--platform', opts.platform] : []),
    ref,
  ]);
}

export interface CtrImage {
  ref: string;
  mediaType: string;
  digest: string;
}

/** `ctr images ls`, parsed. */
export async function ctrImages(socket: string, namespace = 'e2e'): Promise<CtrImage[]> {
  const { stdout } = await runCommand('ctr', ['--address', socket, '--namespace', namespace, 'images', 'ls']);
  return stdout
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 4)
    .map(([ref, mediaType, digest]) => ({ ref: ref!, mediaType: mediaType!, digest: digest! }));
}

/** Digests in containerd's content store (`ctr content ls`). */
export async function ctrContentDigests(socket: string, namespace = 'e2e'): Promise<string[]> {
  const { stdout } = await runCommand('ctr', ['--address', socket, '--namespace', namespace, 'content', 'ls', '-q']);
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}
