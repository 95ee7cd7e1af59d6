/** Why the proxy could not listen, in words: `cannot listen on 0.0.0.0:5000: the address is in use`. */
export class ListenError extends Error {}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine',
};

export function listenError(err: unknown, host: string, port: number): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const reason = (code && REASONS[code]) ?? (err instanceof Error ? err.message : String(err));
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new ListenError(`cannot listen on ${where}: ${reason}`);
}
