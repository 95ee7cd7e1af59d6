import { celEnv, celFunc, celMethod, CelScalar, isCelError, parse, plan, type CelFunc, type CelInput, type CelResult } from '@bufbuild/cel';
import { checkExpr, type Expr } from './cel-check.js';
import { typeName, variablesOf, type ConditionKind } from './cel-schema.js';
import { costOf, Meter, RANGE_FUNCTION, sizeOf } from './cel-meter.js';
import { sourceOf } from './cel-source.js';

/**
 * Policy conditions in CEL, evaluated by @bufbuild/cel (a maintained implementation that follows the CEL
 * spec, with RE2 `matches()`). A condition is compiled once: parsed, size-limited, type-checked against
 * the declared variables, and planned; the program is cached by its text, so the rules of a loaded policy
 * never recompile. Each evaluation runs under a cost budget (see cel-meter.ts).
 */
export const MAX_CONDITION_LENGTH = 4096;
export const COST_LIMIT = 1_000_000;

type Bindings = Record<string, CelInput>;
type Run = (bindings: Bindings) => CelResult;

export interface CompiledCondition {
  readonly source: string;
  readonly kind: ConditionKind;
  /** Top-level `&&` operands with their own programs, to name the one that was false. */
  readonly conjuncts: ReadonlyArray<{ text: string; run: Run; operands: ReadonlyArray<{ text: string; run: Run }> }>;
  readonly run: Run;
  /** Whether it reads `now`: only then can the same evidence give another result later. */
  readonly usesNow: boolean;
}

export type CompileResult = { condition: CompiledCondition; error?: undefined } | { condition?: undefined; error: string };

/** The outcome of one evaluation: true, false (with what made it false), or an error (which denies). */
export type ConditionResult = { value: true } | { value: false; detail: string } | { error: string };

const meter = new Meter();
let env: ReturnType<typeof celEnv> | undefined;

/** The standard functions, each charging the meter before it runs, and the range function that charges iterations. */
function environment(): ReturnType<typeof celEnv> {
  if (env) return env;
  const funcs: CelFunc[] = [];
  for (const f of celEnv().funcs) {
    const impl = function (this: unknown, ...args: unknown[]) {
      meter.charge(costOf(f.name, this, args, meter.remaining));
      const out = f.call(0, this as never, args as never);
      if (out === undefined || isCelError(out)) throw out ?? new Error(`no overload of ${f.name}`);
      return out as CelInput;
    };
    funcs.push(f.target ? celMethod(f.name, f.target, f.arguments as never, f.result, impl as never) : celFunc(f.name, f.arguments as never, f.result, impl as never));
  }
  funcs.push(
    celFunc(RANGE_FUNCTION, [CelScalar.DYN, CelScalar.INT], CelScalar.DYN, (range, perItem) => {
      meter.charge(1 + sizeOf(range) * Number(perItem));
      return range as CelInput;
    }),
  );
  env = celEnv({ funcs });
  return env;
}

const cache = new Map<string, CompileResult>();
const CACHE_LIMIT = 2000;

/** Compiles (or returns the cached compilation of) a condition; `error` is a message for the policy's author. */
export function compileCondition(source: string, kind: ConditionKind): CompileResult {
  const key = `${kind}\n${source}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = compile(source, kind);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, hit);
  }
  return hit;
}

function compile(source: string, kind: ConditionKind): CompileResult {
  if (source.trim() === '') return { error: 'must be a non-empty CEL expression' };
  if (source.length > MAX_CONDITION_LENGTH) return { error: `is ${source.length} characters; the limit is ${MAX_CONDITION_LENGTH}` };
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    if (err instanceof RangeError) return { error: 'syntax error: the expression nests too deeply' };
    return { error: `syntax error at ${String((err as Error).message).replace(/^<input>:/, '')}` };
  }
  const positions = Object.fromEntries(Object.entries(parsed.sourceInfo?.positions ?? {}).map(([id, at]) => [id, Number(at)]));
  const checked = checkExpr(parsed.expr, variablesOf(kind), positions);
  if ('error' in checked) {
    const where = checked.error.offset === undefined ? '' : ` at ${lineColumn(source, checked.error.offset)}`;
    return { error: `type error${where}: ${checked.error.message}` };
  }
  if (checked.type.k !== 'bool' && checked.type.k !== 'dyn') return { error: `must be a bool expression, not ${typeName(checked.type)}` };

  const macros = (parsed.sourceInfo?.macroCalls ?? {}) as Record<string, Expr>;
  const text = (e: Expr) => sourceOf(e, macros);
  const ids = { next: maxId(parsed.expr) + 1n };
  const program = (e: Expr): Run => {
    const planned = plan(environment(), metered(e, ids));
    return (bindings) => planned(bindings as never);
  };
  const conjuncts = splitAnd(parsed.expr).map((c) => ({
    text: text(c),
    run: program(c),
    operands: comparedOperands(c).map((o) => ({ text: text(o), run: program(o) })),
  }));
  return { condition: { source, kind, conjuncts, run: program(parsed.expr), usesNow: readsNow(parsed.expr) } };
}

/**
 * Runs a compiled condition. A false result names the first false top-level `&&` operand and, for a
 * comparison, the values compared; an error (a missing key, a type mismatch at run time, the cost limit)
 * is reported as such.
 */
export function evaluateCondition(c: CompiledCondition, bindings: Bindings): ConditionResult {
  const first = runMetered(c.run, bindings);
  if ('error' in first) return first;
  if (first.value === true) return { value: true };
  if (first.value !== false) return { error: `gave ${describeValue(first.value)}, not a bool` };
  for (const part of c.conjuncts) {
    const r = runMetered(part.run, bindings);
    if ('error' in r || r.value !== false) continue;
    const values = part.operands.flatMap((o) => {
      const v = runMetered(o.run, bindings);
      return 'error' in v ? [] : [`${o.text} is ${describeValue(v.value)}`];
    });
    const at = c.conjuncts.length > 1 ? ` at "${clip(part.text, 120)}"` : '';
    return { value: false, detail: `${at}${values.length ? ` (${values.join(', ')})` : ''}` };
  }
  return { value: false, detail: '' };
}

function runMetered(run: Run, bindings: Bindings): { value: unknown } | { error: string } {
  meter.start(COST_LIMIT);
  let out: CelResult;
  try {
    out = run(bindings);
  } catch (err) {
    out = err as CelResult;
  } finally {
    meter.stop();
  }
  // An exhausted budget may surface as an error absorbed by `||`/`&&`; it fails the evaluation all the same.
  if (meter.exceeded) return { error: `exceeded the cost limit of ${COST_LIMIT}` };
  if (isCelError(out) || out instanceof Error) {
    const message = String((out as Error).message);
    const hint = /^field not found/.test(message) ? ' (read optional fields and map keys behind has() or `in`)' : '';
    return { error: clip(message, 200) + hint };
  }
  return { value: out };
}

/** Wraps every comprehension's range in the range function, charging its size times the loop's size. */
function metered(e: Expr, ids: { next: bigint }): Expr {
  const k = e.exprKind;
  const m = (x: Expr | undefined) => (x ? metered(x, ids) : x);
  switch (k.case) {
    case 'selectExpr':
      return { ...e, exprKind: { case: 'selectExpr', value: { ...k.value, operand: m(k.value.operand) } } } as Expr;
    case 'callExpr':
      return { ...e, exprKind: { case: 'callExpr', value: { ...k.value, target: m(k.value.target), args: k.value.args.map((a) => metered(a, ids)) } } } as Expr;
    case 'listExpr':
      return { ...e, exprKind: { case: 'listExpr', value: { ...k.value, elements: k.value.elements.map((a) => metered(a, ids)) } } } as Expr;
    case 'structExpr':
      return {
        ...e,
        exprKind: {
          case: 'structExpr',
          value: {
            ...k.value,
            entries: k.value.entries.map((en) => ({
              ...en,
              value: m(en.value),
              keyKind: en.keyKind.case === 'mapKey' ? { case: 'mapKey', value: metered(en.keyKind.value, ids) } : en.keyKind,
            })),
          },
        },
      } as Expr;
    case 'comprehensionExpr': {
      const c = k.value;
      const perItem = BigInt(1 + nodes(c.loopCondition) + nodes(c.loopStep));
      const range = {
        id: ids.next++,
        exprKind: {
          case: 'callExpr',
          value: { function: RANGE_FUNCTION, args: [m(c.iterRange)!, { id: ids.next++, exprKind: { case: 'constExpr', value: { constantKind: { case: 'int64Value', value: perItem } } } }] },
        },
      };
      return {
        ...e,
        exprKind: { case: 'comprehensionExpr', value: { ...c, iterRange: range, accuInit: m(c.accuInit), loopCondition: m(c.loopCondition), loopStep: m(c.loopStep), result: m(c.result) } },
      } as unknown as Expr;
    }
    default:
      return e;
  }
}

function children(e: Expr): Expr[] {
  const k = e.exprKind;
  switch (k.case) {
    case 'selectExpr':
      return k.value.operand ? [k.value.operand] : [];
    case 'callExpr':
      return [...(k.value.target ? [k.value.target] : []), ...k.value.args];
    case 'listExpr':
      return k.value.elements;
    case 'structExpr':
      return k.value.entries.flatMap((en) => [...(en.keyKind.case === 'mapKey' ? [en.keyKind.value] : []), ...(en.value ? [en.value] : [])]);
    case 'comprehensionExpr': {
      const c = k.value;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].filter((x): x is Expr => x !== undefined);
    }
    default:
      return [];
  }
}

function readsNow(e: Expr): boolean {
  return (e.exprKind.case === 'identExpr' && e.exprKind.value.name === 'now') || children(e).some(readsNow);
}

function nodes(e: Expr | undefined): number {
  return e ? 1 + children(e).reduce((n, c) => n + nodes(c), 0) : 0;
}

function maxId(e: Expr): bigint {
  return children(e).reduce((m, c) => {
    const id = maxId(c);
    return id > m ? id : m;
  }, BigInt(e.id));
}

/** `a && b && c` → [a, b, c]. */
function splitAnd(e: Expr): Expr[] {
  const k = e.exprKind;
  if (k.case === 'callExpr' && k.value.function === '_&&_' && !k.value.target) return k.value.args.flatMap(splitAnd);
  return [e];
}

const COMPARISONS = new Set(['_==_', '_!=_', '_<_', '_<=_', '_>_', '_>=_', '@in']);

/**
 * What explains a false result: the non-constant operands of a comparison, or the list a macro (`all`,
 * `exists`…) ran over; also under `!`.
 */
function comparedOperands(e: Expr): Expr[] {
  const k = e.exprKind;
  if (k.case === 'comprehensionExpr') return k.value.iterRange && !isConstant(k.value.iterRange) ? [k.value.iterRange] : [];
  if (k.case !== 'callExpr' || k.value.target) return [];
  if (k.value.function === '!_' && k.value.args.length === 1) return comparedOperands(k.value.args[0]!);
  if (!COMPARISONS.has(k.value.function)) return [];
  return k.value.args.filter((a) => !isConstant(a));
}

/** A literal, a list of literals, or a function of literals such as duration('168h'): its value explains nothing. */
function isConstant(e: Expr): boolean {
  const k = e.exprKind;
  if (k.case === 'constExpr') return true;
  if (k.case === 'listExpr') return k.value.elements.every(isConstant);
  return k.case === 'callExpr' && !k.value.target && k.value.args.length > 0 && k.value.args.every(isConstant);
}

function lineColumn(source: string, offset: number): string {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - before.lastIndexOf('\n')}`;
}

export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A CEL value as a short, readable string: JSON-like, timestamps as ISO 8601, at most 80 characters. */
export function describeValue(v: unknown): string {
  try {
    return clip(render(v, 0), 80);
  } catch {
    // Some CEL values (records inside lists) can only be read during an evaluation; say so rather than fail.
    return '(not shown)';
  }
}

function render(v: unknown, depth: number): string {
  if (depth > 3) return '…';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'bigint':
    case 'number':
    case 'boolean':
      return String(v);
  }
  const o = v as Record<string | symbol, any>;
  if (v instanceof Uint8Array) return `b"${Buffer.from(v).toString('hex').slice(0, 32)}"`;
  if (typeof o.value === 'bigint' && Object.keys(o).length === 1) return `${o.value}u`;
  const msg = o.message ?? o;
  if (msg?.$typeName === 'google.protobuf.Timestamp') return new Date(Number(msg.seconds) * 1000 + Math.floor((msg.nanos ?? 0) / 1e6)).toISOString();
  if (msg?.$typeName === 'google.protobuf.Duration') return `${Number(msg.seconds) + (msg.nanos ?? 0) / 1e9}s`;
  if (typeof o.entries === 'function' && typeof o.get === 'function' && typeof o.has === 'function') {
    const parts: string[] = [];
    for (const [k, x] of o.entries() as Iterable<[unknown, unknown]>) {
      if (parts.length >= 8) {
        parts.push('…');
        break;
      }
      parts.push(`${render(k, depth + 1)}: ${render(x, depth + 1)}`);
    }
    return `{${parts.join(', ')}}`;
  }
  if (typeof o[Symbol.iterator] === 'function') {
    const parts: string[] = [];
    for (const x of o as Iterable<unknown>) {
      if (parts.length >= 8) {
        parts.push('…');
        break;
      }
      parts.push(render(x, depth + 1));
    }
    return `[${parts.join(', ')}]`;
  }
  return String(v);
}
