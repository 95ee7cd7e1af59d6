/**
 * Semantic version ranges over image tags, as npm writes them: comparators (`>=1.2.0 <2`), caret (`^1.2`),
 * tilde (`~1.2.3`), x-ranges (`1.x`, `1.2`, `*`) and alternatives (`^1 || ^2`). A tag is a version when it is
 * one to three numbers with an optional `v` (`v1.2.3`, `3.19`, `7`); a missing number is 0. Tags with a
 * pre-release or other suffix (`1.2.3-rc.1`, `3.19-alpine`) never match: prefetching picks releases.
 */

type Version = [number, number, number];
type Op = '>=' | '<' | '=';
interface Comparator { op: Op; v: Version }

const TAG_RE = /^v?(\d{1,9})(?:\.(\d{1,9}))?(?:\.(\d{1,9}))?$/;
const PART_RE = /^(\^|~|>=|<=|>|<|=)?v?(\d{1,9}|[xX*])(?:\.(\d{1,9}|[xX*]))?(?:\.(\d{1,9}|[xX*]))?$/;

/** The version a tag names, or undefined when it is not a plain release version. */
export function tagVersion(tag: string): Version | undefined {
  const m = TAG_RE.exec(tag);
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : undefined;
}

/** A compiled range: `test(tag)`. Throws a RangeError naming the part it cannot read. */
export function semverRange(range: string): { test(tag: string): boolean } {
  const alternatives = range.split('||').map((set) => set.replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').trim().split(/\s+/).filter((p) => p !== '').flatMap(comparators));
  return {
    test(tag) {
      const v = tagVersion(tag);
      return v !== undefined && alternatives.some((set) => set.every((c) => holds(c, v)));
    },
  };
}

/** The range's problem, or undefined when it reads. */
export function semverRangeProblem(range: string): string | undefined {
  try {
    semverRange(range);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function comparators(part: string): Comparator[] {
  const m = PART_RE.exec(part);
  if (!m) throw new RangeError(`"${part.slice(0, 40)}" is not a version comparator such as >=1.2.0, ^1.2, ~1.2.3 or 1.x`);
  const op = m[1] ?? '=';
  const nums = [m[2], m[3], m[4]].map((n) => (n === undefined || /^[xX*]$/.test(n) ? undefined : Number(n)));
  // A wildcard ends the version: 1.x.3 reads as 1.x.
  const known = nums.findIndex((n) => n === undefined);
  const given = (known < 0 ? 3 : known) as 0 | 1 | 2 | 3;
  const v: Version = [nums[0] ?? 0, given > 1 ? nums[1]! : 0, given > 2 ? nums[2]! : 0];
  /** The first version past the partial one (1.2 → 1.3.0). */
  const bump = (at: number): Version => (at === 0 ? [v[0] + 1, 0, 0] : at === 1 ? [v[0], v[1] + 1, 0] : [v[0], v[1], v[2] + 1]);
  const next = given === 0 ? undefined : bump(given - 1);
  switch (op) {
    case '=':
      if (given === 0) return [];
      return given === 3 ? [{ op: '=', v }] : [{ op: '>=', v }, { op: '<', v: next! }];
    case '>=':
      return given === 0 ? [] : [{ op: '>=', v }];
    case '>':
      return given === 0 ? [{ op: '<', v: [0, 0, 0] }] : [{ op: '>=', v: next! }];
    case '<':
      return given === 0 ? [{ op: '<', v: [0, 0, 0] }] : [{ op: '<', v }];
    case '<=':
      return given === 0 ? [] : [{ op: '<', v: next! }];
    case '~':
      return given === 0 ? [] : [{ op: '>=', v }, { op: '<', v: bump(given === 1 ? 0 : 1) }];
    default: {
      // ^: the leftmost non-zero number given may not change.
      if (given === 0) return [];
      const lead = v[0] !== 0 || given === 1 ? 0 : v[1] !== 0 || given === 2 ? 1 : 2;
      return [{ op: '>=', v }, { op: '<', v: bump(lead) }];
    }
  }
}

function holds(c: Comparator, v: Version): boolean {
  const cmp = compare(v, c.v);
  return c.op === '=' ? cmp === 0 : c.op === '>=' ? cmp >= 0 : cmp < 0;
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
