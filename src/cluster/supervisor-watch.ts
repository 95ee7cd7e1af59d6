/** How often a worker checks that its supervisor is still its parent, in case the IPC close went unseen. */
const PARENT_CHECK_MS = 1_000;

/**
 * A worker whose supervisor is gone (killed) must stop at once: nobody can restart or drain it, a new
 * supervisor will want the port and the store, and its partial downloads are removed only once it exits.
 * The IPC channel's close is the signal; a change of parent pid is a backstop. Node has no prctl(PDEATHSIG).
 */
export function exitWhenSupervisorGone(onGone: (how: string) => void): void {
  const parent = process.ppid;
  let gone = false;
  const exit = (how: string) => {
    if (gone) return;
    gone = true;
    onGone(how);
    process.exit(1);
  };
  if (!process.connected) return exit('IPC channel closed');
  process.once('disconnect', () => exit('IPC channel closed'));
  setInterval(() => {
    if (process.ppid !== parent) exit('parent process changed');
  }, PARENT_CHECK_MS).unref();
}
