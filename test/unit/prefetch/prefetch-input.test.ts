import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigValidationError } from '../../../src/config/validator.js';
import { ImageListError, readImageList, resolveImages } from '../../../src/prefetch/image-list.js';
import { tagPicker } from '../../../src/prefetch/tag-select.js';
import { semverRange, semverRangeProblem } from '../../../src/text/semver-range.js';
import type { UpstreamClient } from '../../../src/upstream/upstream-client.js';

/** Prefetch input: list files, image references, tag selection by glob and semantic version, the config section. */

// Resolving a name only looks the upstream up by name: no client is contacted.
const upstreams = new Map([['registry.test', { name: 'registry.test' } as UpstreamClient]]);

function problemsOf(text: string): string[] {
  try {
    resolveImages(readImageList(text, 'list.txt'), upstreams, 'registry.test');
    return [];
  } catch (err) {
    return (err as ImageListError).problems;
  }
}

describe('prefetch lists', () => {
  it('skips blank lines and comments and resolves names under their upstream or the default', () => {
    const images = resolveImages(readImageList('# images\n\n  registry.test/org/app:1.2  # pinned\r\norg/tool@sha256:' + 'a'.repeat(64) + '\nbusybox\n', 'l'), upstreams, 'registry.test');
    expect(images.map((i) => [i.image, i.target.canonical, i.ref])).toEqual([
      ['registry.test/org/app:1.2', 'registry.test/org/app', { kind: 'tag', tag: '1.2' }],
      [`org/tool@sha256:${'a'.repeat(64)}`, 'registry.test/org/tool', { kind: 'digest', digest: `sha256:${'a'.repeat(64)}` }],
      ['busybox', 'registry.test/busybox', { kind: 'tag', tag: 'latest' }],
    ]);
  });

  it('names every bad line: duplicates, invalid names, unknown registries, two images on a line', () => {
    expect(problemsOf('org/app:1\n# x\nregistry.test/org/app:1\nOrg/App\nquay.io/x/y\norg/app:bad!\na b\norg/app@sha256:zz\n')).toEqual([
      'list.txt:3: registry.test/org/app:1 repeats list.txt:1',
      'list.txt:4: invalid repository name "Org/App"',
      'list.txt:5: "quay.io" is not a configured upstream (upstreams: registry.test)',
      'list.txt:6: invalid tag "bad!"',
      'list.txt:7: "a b" is not one image reference (one image per line)',
      'list.txt:8: invalid digest "sha256:zz"',
    ]);
    expect(problemsOf('\n# only comments\n')).toEqual([]);
  });
});

describe('tag selection', () => {
  it('reads npm-style ranges over release tags', () => {
    const picks = (range: string, tags: string[]) => tags.filter((t) => semverRange(range).test(t));
    const tags = ['0.9.0', '1.0.0', 'v1.2.3', '1.2', '1.10.0', '2.0.0', '2.1.0-rc.1', '3.19-alpine', 'latest', '3'];
    expect(picks('^1', tags)).toEqual(['1.0.0', 'v1.2.3', '1.2', '1.10.0']);
    expect(picks('~1.2', tags)).toEqual(['v1.2.3', '1.2']);
    expect(picks('>=1.2.0 <2', tags)).toEqual(['v1.2.3', '1.2', '1.10.0']);
    expect(picks('1.x || >=3', tags)).toEqual(['1.0.0', 'v1.2.3', '1.2', '1.10.0', '3']);
    expect(picks('^0.9', tags)).toEqual(['0.9.0']);
    expect(picks('>1.2', tags)).toEqual(['1.10.0', '2.0.0', '3']);
    expect(picks('<=1.2', tags)).toEqual(['0.9.0', '1.0.0', 'v1.2.3', '1.2']);
    expect(picks('*', tags)).toEqual(['0.9.0', '1.0.0', 'v1.2.3', '1.2', '1.10.0', '2.0.0', '3']);
    expect(semverRangeProblem('>= 1.2')).toBeUndefined();
    expect(semverRangeProblem('^1.2 || banana')).toMatch(/"banana" is not a version comparator/);
  });

  it('combines globs and ranges, and never picks cosign artifact tags', () => {
    const pick = tagPicker({ tags: ['1.*', 'stable'], semver: '>=1.1' });
    expect(['1.0', '1.1', '1.5.2', 'stable', '2.0'].filter(pick)).toEqual(['1.1', '1.5.2']);
    expect(['stable', `sha256-${'b'.repeat(64)}.sig`].filter(tagPicker({ tags: ['*'] }))).toEqual(['stable']);
  });
});

describe('the prefetch config section', () => {
  const minimal = { upstreams: [{ name: 'registry.test', url: 'https://registry.test' }], policies: [{ name: 'open', match: ['**'], mode: 'allow' }] };
  const errorsOf = (prefetch: unknown, extra: Record<string, unknown> = {}) => {
    try {
      parseConfig({ ...minimal, ...extra, prefetch }, '/etc/portcullis/config.json', {});
      return [];
    } catch (err) {
      return (err as ConfigValidationError).errors.map((e) => `${e.path}: ${e.message}`);
    }
  };

  it('applies defaults', () => {
    const c = parseConfig({ ...minimal, prefetch: { lists: [{ name: 'base', images: [{ repository: 'registry.test/org/app', tags: ['1.*'] }] }] } }, '/x/c.json', {});
    expect(c.prefetch).toEqual({ intervalMs: 6 * 3_600_000, concurrency: 2, lists: [{ name: 'base', images: [{ repository: 'registry.test/org/app', tags: ['1.*'] }], referrers: true }] });
    expect(parseConfig(minimal, '/x/c.json', {}).prefetch).toBeUndefined();
  });

  it('reports every mistake with its path', () => {
    expect(errorsOf({
      interval: '10s',
      concurrency: 0,
      lists: [
        { name: 'Base', images: [{ repository: 'quay.io/x' , tags: ['1']}, { repository: 'registry.test/org/app' }, { repository: 'registry.test/Org', semver: 'soon' }], platforms: ['amd64'] },
        { name: 'b', images: [] },
      ],
    })).toEqual(expect.arrayContaining([
      expect.stringMatching(/^prefetch\.interval: /),
      expect.stringMatching(/^prefetch\.concurrency: must be a whole number from 1 to 64/),
      expect.stringMatching(/^prefetch\.lists\[0\]\.name: must be a name/),
      'prefetch.lists[0].images[1]: must give tags, semver, or both',
      expect.stringMatching(/^prefetch\.lists\[0\]\.images\[2\]\.semver: "soon" is not a version comparator/),
      expect.stringMatching(/^prefetch\.lists\[0\]\.platforms\[0\]: must be a platform/),
      'prefetch.lists[1].images: must list at least one image',
    ]));
    expect(errorsOf({ lists: [{ name: 'a', images: [{ repository: 'quay.io/x', tags: ['1'] }, { repository: 'registry.test/Org', tags: ['1'] }] }] })).toEqual([
      'prefetch.lists[0].images[0].repository: "quay.io" names no configured upstream',
      'prefetch.lists[0].images[1].repository: is not a valid repository name',
    ]);
    expect(errorsOf({ lists: [{ name: 'a', images: [{ repository: 'registry.test/x', tags: ['1'] }] }, { name: 'a', images: [{ repository: 'registry.test/y', tags: ['1'] }] }] }))
      .toEqual(['prefetch.lists: must not repeat a list name']);
    expect(errorsOf({ lists: [{ name: 'a', images: [{ repository: 'org/x', tags: ['1'] }] }] }))
      .toEqual(['prefetch.lists[0].images[0].repository: must start with a configured upstream\'s name (there is no defaultUpstream)']);
    expect(errorsOf({ lists: [{ name: 'a', images: [{ repository: 'org/x', tags: ['1'] }] }] }, { defaultUpstream: 'registry.test' })).toEqual([]);
  });
});
