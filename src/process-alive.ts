import { readFileSync } from 'node:fs';

/**
 * Whether a process of this host still runs. A process that exited but was not yet reaped (a zombie: its
 * parent died too, and whoever inherited it has not waited for it yet) still answers signal 0, yet will
 * never write again; on Linux it counts as gone.
 */
export function processRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const end = stat.lastIndexOf(')');
    return stat.slice(end + 2, end + 3) === 'Z';
  } catch {
    return false;
  }
}
