import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who holds a lease in the shared database: `<host>:<pid>:<random>`, so a process of the same host can tell
 * that a holder has died (killed mid-work) and take over at once instead of waiting for the lease to expire.
 */
const HOST = hostname();
export const PROCESS_OWNER = `${HOST}:${process.pid}:${randomBytes(4).toString('hex')}`;

export function ownerIsGone(owner: string): boolean {
  const m = /^(.*):(\d+):[0-9a-f]+$/.exec(owner);
  if (!m || m[1] !== HOST) return false;
  try {
    process.kill(Number(m[2]), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
