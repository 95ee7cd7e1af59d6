import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../../src/pull/single-flight.js';

/** Shared upstream work is abandoned only when nobody waits for it any more. */
describe('SingleFlight', () => {
  const work = () => {
    let aborted: unknown;
    let finish!: (v: string) => void;
    const fn = (signal: AbortSignal) =>
      new Promise<string>((resolve, reject) => {
        finish = resolve;
        signal.addEventListener('abort', () => {
          aborted = signal.reason;
          reject(signal.reason);
        });
      });
    return { fn, finish: (v: string) => finish(v), aborted: () => aborted };
  };

  it('aborts the work once every caller has gone, and starts afresh for the next one', async () => {
    const flights = new SingleFlight<string>();
    const w = work();
    const a = new AbortController();
    const b = new AbortController();
    const first = flights.run('k', w.fn, a.signal);
    const second = flights.run('k', w.fn, b.signal);
    a.abort(new Error('a left'));
    await expect(first).rejects.toThrow('a left');
    expect(w.aborted()).toBeUndefined();
    b.abort(new Error('b left'));
    await expect(second).rejects.toThrow('b left');
    expect(String(w.aborted())).toContain('b left');
    expect(flights.size).toBe(0);

    const again = work();
    const third = flights.run('k', again.fn);
    again.finish('fresh');
    await expect(third).resolves.toBe('fresh');
  });

  it('lets the work finish for a caller without a signal even when the others leave', async () => {
    const flights = new SingleFlight<string>();
    const w = work();
    const client = new AbortController();
    const leaving = flights.run('k', w.fn, client.signal);
    const staying = flights.run('k', w.fn);
    client.abort(new Error('gone'));
    await expect(leaving).rejects.toThrow('gone');
    w.finish('done');
    await expect(staying).resolves.toBe('done');
    expect(w.aborted()).toBeUndefined();
  });
});
