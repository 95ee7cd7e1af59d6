import { afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT, runInterruptible } from '../../../src/commands/command.js';

/** The shared tail of the long commands (export, import): interrupts abort the work, expected failures exit with their code. */
class ArchiveProblem extends Error {}
class RunProblem extends Error {}
const KNOWN = [[ArchiveProblem, EXIT.usage], [RunProblem, EXIT.failed]] as const;

describe('runInterruptible', () => {
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  afterEach(() => stderr.mockClear());

  it('returns the work\'s exit code and leaves no signal listener behind', async () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    expect(await runInterruptible(KNOWN, async () => EXIT.denied)).toBe(EXIT.denied);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
  });

  it('ends an expected failure as "portcullis: MESSAGE" with its exit code', async () => {
    expect(await runInterruptible(KNOWN, async () => { throw new ArchiveProblem('bundle.tar is not an OCI layout'); })).toBe(EXIT.usage);
    expect(await runInterruptible(KNOWN, async () => { throw new RunProblem('the disk is full'); })).toBe(EXIT.failed);
    expect(stderr.mock.calls.map((c) => c[0])).toEqual(['portcullis: bundle.tar is not an OCI layout\n', 'portcullis: the disk is full\n']);
  });

  it('throws anything else on, and still removes its listeners', async () => {
    const before = process.listenerCount('SIGTERM');
    await expect(runInterruptible(KNOWN, async () => { throw new TypeError('a bug'); })).rejects.toThrow('a bug');
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(stderr).not.toHaveBeenCalled();
  });

  it('aborts the work\'s signal on SIGINT or SIGTERM', async () => {
    for (const name of ['SIGINT', 'SIGTERM'] as const) {
      const code = await runInterruptible(KNOWN, async (signal) => {
        const ours = process.listeners(name).at(-1) as () => void;
        expect(signal.aborted).toBe(false);
        ours();
        return signal.aborted ? EXIT.failed : EXIT.ok;
      });
      expect(code).toBe(EXIT.failed);
    }
  });
});
