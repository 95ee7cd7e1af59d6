import type { PolicyRule } from './types.js';
import { PatternCache } from './pattern-cache.js';

/**
 * Globs over canonical names (`<upstream>/<repository>`), matched against the whole name: `*` matches
 * within one path segment (any run of characters but `/`), `**` matches any number of segments (any run of
 * characters; `**` with a `/` after it matches either nothing or a run ending in `/`, so `a/**` + `/b`
 * matches `a/b`), `?` one character but `/`, and every other character itself.
 *
 * Every request matches its name against the rules in order, and the name is the client's choice, so
 * matching runs in linear time: O(name × glob) at worst, whatever the glob. A backtracking regexp (what
 * globs used to compile to) takes exponential time on globs like `a/**-**-**-**-x` and a long name with many
 * dashes, and one such request froze the whole proxy. RE2 (used for the admins' regular expressions, see
 * identity-match.ts) would be linear too, but measured 2 to 9 times slower than V8 per glob on this hot
 * path, and globs need none of its generality. So a glob is compiled here into its literal prefix and
 * suffix, compared first (most globs are a literal prefix and a trailing `**` or `*`, and most rules are
 * rejected by their prefix), and, for the wildcards in between, a small Thompson NFA run as a set of states.
 */
export interface GlobMatcher {
  test(name: string): boolean;
}

// NFA instructions.
const CHAR = 0; // the character in `arg`, then `next`
const NOT_SLASH = 1; // any character but '/', then `next`
const ANY = 2; // any character, then `next`
const SPLIT = 3; // no character: go on at both `next` and `arg`
const MATCH = 4;

const SLASH = 0x2f;

type Token = { kind: 'literal'; text: string } | { kind: '?' | '*' | '**' | '**/' };

function tokenize(glob: string): Token[] {
  const tokens: Token[] = [];
  let literal = '';
  const push = (t: Token) => {
    if (literal) tokens.push({ kind: 'literal', text: literal });
    literal = '';
    tokens.push(t);
  };
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          push({ kind: '**/' });
        } else push({ kind: '**' });
      } else push({ kind: '*' });
    } else if (c === '?') push({ kind: '?' });
    else literal += c;
  }
  if (literal) tokens.push({ kind: 'literal', text: literal });
  return tokens;
}

/** A Thompson NFA over UTF-16 code units, simulated one input character at a time (no backtracking). */
class Nfa {
  private readonly ops: Uint8Array;
  private readonly args: Int32Array;
  private readonly nexts: Int32Array;
  private readonly marks: Uint32Array;
  private current: Int32Array;
  private following: Int32Array;
  private readonly stack: Int32Array;
  private generation = 0;

  constructor(tokens: readonly Token[]) {
    const ops: number[] = [];
    const args: number[] = [];
    const nexts: number[] = [];
    const emit = (op: number, arg = 0, next = ops.length + 1) => {
      ops.push(op);
      args.push(arg);
      nexts.push(next);
      return ops.length - 1;
    };
    for (const t of tokens) {
      const at = ops.length;
      switch (t.kind) {
        case 'literal':
          for (let i = 0; i < t.text.length; i++) emit(CHAR, t.text.charCodeAt(i));
          break;
        case '?':
          emit(NOT_SLASH);
          break;
        case '*': // at: Split(at+1 | after); at+1: NotSlash → at
          emit(SPLIT, at + 2);
          emit(NOT_SLASH, 0, at);
          break;
        case '**':
          emit(SPLIT, at + 2);
          emit(ANY, 0, at);
          break;
        case '**/': // like (?:.*/)? — at: Split(at+1 | after); at+1: Split(at+2 | at+3); at+2: Any → at+1; at+3: '/'
          emit(SPLIT, at + 4);
          emit(SPLIT, at + 3);
          emit(ANY, 0, at + 1);
          emit(CHAR, SLASH);
          break;
      }
    }
    emit(MATCH);
    this.ops = Uint8Array.from(ops);
    this.args = Int32Array.from(args);
    this.nexts = Int32Array.from(nexts);
    this.marks = new Uint32Array(ops.length);
    this.current = new Int32Array(ops.length);
    this.following = new Int32Array(ops.length);
    this.stack = new Int32Array(ops.length * 2 + 1);
  }

  /** Whether `name[from, to)` matches as a whole. Matching is synchronous, so the buffers are reused. */
  run(name: string, from: number, to: number): boolean {
    if (this.generation > 0xfffffff0 - (to - from)) {
      this.marks.fill(0);
      this.generation = 0;
    }
    this.generation++;
    let count = this.add(this.current, 0, 0);
    for (let i = from; i < to && count > 0; i++) {
      const c = name.charCodeAt(i);
      let nextCount = 0;
      this.generation++;
      for (let k = 0; k < count; k++) {
        const pc = this.current[k]!;
        const op = this.ops[pc];
        if (op === ANY || (op === NOT_SLASH && c !== SLASH) || (op === CHAR && c === this.args[pc])) {
          nextCount = this.add(this.following, nextCount, this.nexts[pc]!);
        }
      }
      const t = this.current;
      this.current = this.following;
      this.following = t;
      count = nextCount;
    }
    for (let k = 0; k < count; k++) if (this.ops[this.current[k]!] === MATCH) return true;
    return false;
  }

  /** Adds `pc` and every state reachable from it without consuming a character, once per step. */
  private add(list: Int32Array, count: number, pc: number): number {
    const gen = this.generation;
    let top = 0;
    this.stack[top++] = pc;
    while (top > 0) {
      const s = this.stack[--top]!;
      if (this.marks[s] === gen) continue;
      this.marks[s] = gen;
      if (this.ops[s] === SPLIT) {
        this.stack[top++] = this.args[s]!;
        this.stack[top++] = this.nexts[s]!;
      } else list[count++] = s;
    }
    return count;
  }
}

function compileGlob(glob: string): GlobMatcher {
  const tokens = tokenize(glob);
  let first = 0;
  let last = tokens.length;
  let prefix = '';
  let suffix = '';
  if (tokens[0]?.kind === 'literal') prefix = (tokens[first++] as { text: string }).text;
  if (last > first && tokens[last - 1]!.kind === 'literal') suffix = (tokens[--last] as { text: string }).text;
  const middle = tokens.slice(first, last);
  const fixed = prefix.length + suffix.length;
  const ends = (name: string) => name.length >= fixed && name.startsWith(prefix) && name.endsWith(suffix);

  if (middle.length === 0) return { test: (name) => name === prefix + suffix };
  if (middle.length === 1 && middle[0]!.kind === '**') return { test: ends };
  if (middle.length === 1 && middle[0]!.kind === '*') {
    return {
      test(name) {
        if (!ends(name)) return false;
        const slash = name.indexOf('/', prefix.length);
        return slash === -1 || slash >= name.length - suffix.length;
      },
    };
  }
  const nfa = new Nfa(middle);
  return { test: (name) => ends(name) && nfa.run(name, prefix.length, name.length - suffix.length) };
}

const globs = new PatternCache(2000, compileGlob);

export function globMatches(glob: string, name: string): boolean {
  return globs.get(glob).test(name);
}

/**
 * Each rule's compiled globs, kept per rules array when nothing in it can change: the active policy is
 * deep-frozen and lives as long as its version, and looking its globs up once instead of on every request
 * halves the time matching takes. A rules array that can still change is matched glob by glob.
 */
const byRules = new WeakMap<readonly PolicyRule[], GlobMatcher[][]>();

function frozenGlobs(rules: readonly PolicyRule[]): GlobMatcher[][] | undefined {
  let compiled = byRules.get(rules);
  if (compiled) return compiled;
  if (!Object.isFrozen(rules) || !rules.every((r) => Object.isFrozen(r) && Object.isFrozen(r.match))) return undefined;
  compiled = rules.map((rule) => rule.match.map((glob) => globs.get(glob)));
  byRules.set(rules, compiled);
  return compiled;
}

/** The first rule whose globs match the canonical name, or undefined (which denies). */
export function matchRule(rules: readonly PolicyRule[], canonicalName: string): PolicyRule | undefined {
  const compiled = frozenGlobs(rules);
  for (let i = 0; i < rules.length; i++) {
    const matchers = compiled?.[i];
    const match = rules[i]!.match;
    for (let j = 0; j < match.length; j++) {
      if ((matchers ? matchers[j]! : globs.get(match[j]!)).test(canonicalName)) return rules[i];
    }
  }
  return undefined;
}

/** Characters other glob dialects give a meaning (classes, alternatives, escapes); no name holds them. */
const FOREIGN_GLOB_CHARS = /[[\]{}\\]/;

/** Why a glob cannot be used (it would match nothing an admin meant), or undefined when it is fine. */
export function globError(glob: string): string | undefined {
  const foreign = FOREIGN_GLOB_CHARS.exec(glob)?.[0];
  if (foreign === undefined) return undefined;
  return `"${foreign}" is not a glob character: globs know only *, ** and ?, and no repository name holds "${foreign}"`;
}
