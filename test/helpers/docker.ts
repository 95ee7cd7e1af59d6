import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './clients.js';
import { findTool, spawnDaemon, waitUntil } from './tools.js';

/**
 * A private Docker daemon for tests: its own data root, exec root and socket, the vfs storage driver and no
 * networking setup (no iptables, no bridge), so it runs inside a container. `mirror` becomes its
 * `registry-mirrors` entry.
 */
export interface DockerDaemon {
  socket: string;
  stop(): Promise<void>;
  logs(): string[];
  /** Runs the docker CLI against this daemon. */
  docker(args: readonly string[]): Promise<CommandResult>;
}

export async function startDocker(options: { mirror?: string; dir?: string } = {}): Promise<DockerDaemon> {
  const binary = findTool('dockerd');
  if (!binary) throw new Error('dockerd is not installed');
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'e2e-docker-')));
  const socket = join(dir, 'docker.sock');
  const daemon = await spawnDaemon(binary, [
    '--storage-driver=vfs',
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    `--data-root=${join(dir, 'root')}`,
    `--exec-root=${join(dir, 'exec')}`,
    `--pidfile=${join(dir, 'docker.pid')}`,
    `--host=unix://${socket}`,
    ...(options.mirror ? [`--registry-mirror=${options.mirror}`] : []),
  ]);
  // The CLI keeps its own config (logins) in the temp dir, never in the user's ~/.docker.
  const docker = (args: readonly string[]) =>
    runCommand('docker', ['--config', join(dir, 'client'), '--host', `unix://${socket}`, ...args], 180_000);
  await waitUntil(
    `dockerd on ${socket}`,
    async () => {
      if (!daemon.running()) throw new Error(`dockerd exited:\n${daemon.lines().join('\n')}`);
      await docker(['version']);
      return true;
    },
    60_000,
  );
  return {
    socket,
    docker,
    async stop() {
      await daemon.stop('SIGTERM', 15_000);
    },
    logs: () => daemon.lines(),
  };
}
