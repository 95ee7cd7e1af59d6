import { userInfo } from 'node:os';

/** Who runs a command on this host, for audit events (a container may have no passwd entry for its user). */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? String(process.getuid?.() ?? 'unknown');
  }
}
