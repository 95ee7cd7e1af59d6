import { describe, expect, it } from 'vitest';
import { unknownNames } from '../../../src/text/unknown-names.js';
import { closestName } from '../../../src/text/did-you-mean.js';
import { unknownParameters } from '../../../src/audit/audit-query.js';

describe('unknown names', () => {
  it('suggests a known name within two edits, ignoring case', () => {
    expect(closestName('dryrun', ['dryRun'])).toBe('dryRun');
    expect(closestName('dry_run', ['dryRun'])).toBe('dryRun');
    expect(closestName('coment', ['version', 'comment'])).toBe('comment');
    expect(closestName('force', ['dryRun'])).toBeUndefined();
    expect(closestName('x'.repeat(100_000), ['dryRun'])).toBeUndefined();
  });

  it('names each unknown key, with a suggestion and what is known', () => {
    expect(unknownNames({ dryrun: 'true', comment: 'x', zzz: 1 }, ['dryRun', 'comment'], 'parameter of this endpoint')).toEqual([
      { path: 'dryrun', message: 'is not a parameter of this endpoint (did you mean dryRun?); known: dryRun, comment' },
      { path: 'zzz', message: 'is not a parameter of this endpoint; known: dryRun, comment' },
    ]);
    expect(unknownNames({ dryRun: 'true' }, [], 'parameter of this endpoint')).toEqual([{ path: 'dryRun', message: 'is not a parameter of this endpoint; known: none' }]);
  });

  it('is what the audit API refuses unknown parameters with', () => {
    expect(unknownParameters({ decison: 'deny' }, ['decision', 'since'])).toEqual([
      { path: 'decison', message: 'is not a parameter of this endpoint (did you mean decision?); known: decision, since' },
    ]);
  });
});
