import { describe, expect, it } from 'vitest';
import { closestName, didYouMean, editDistance } from '../../../src/text/did-you-mean.js';

describe('did you mean', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance('workers', 'wokers')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('forgives case, dashes and underscores, and at most two edits', () => {
    expect(closestName('dryrun', ['config', 'dry-run'])).toBe('dry-run');
    expect(closestName('DRY_RUN', ['dry-run'])).toBe('dry-run');
    expect(closestName('confg', ['config', 'comment'])).toBe('config');
    expect(closestName('cmoment', ['config', 'comment'])).toBe('comment');
    expect(closestName('zzz', ['config', 'comment'])).toBeUndefined();
  });

  it('does not call every short name close to every other', () => {
    expect(closestName('ab', ['xy'])).toBeUndefined();
    expect(closestName('id', ['ip'])).toBeUndefined();
    expect(closestName('Usr', ['User'])).toBe('User');
  });

  it('writes the suggestion as it should be typed', () => {
    expect(didYouMean('wokers', ['workers'], (k) => `server.${k}`)).toBe(' (did you mean server.workers?)');
    expect(didYouMean('nothing', ['workers'])).toBe('');
  });
});
