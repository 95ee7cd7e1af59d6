import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { processRunning } from '../process-alive.js';

/**
 * Who holds a lease in the shared database: `<host>:<pid>:<random>`, so a process of the same host can tell
 * that a holder has died (killed mid-work) and take over at once instead of waiting for the lease to expire.
 */
const HOST = hostname();
export const PROCESS_OWNER = `${HOST}:${process.pid}:${randomBytes(4).toString('hex')}`;

export function ownerIsGone(owner: string): boolean {
  const m = /^(.*):(\d+):[0-9a-f]+$/.exec(owner);
  if (!m || m[1] !== HOST) return false;
  return !processRunning(Number(m[2]));
}
