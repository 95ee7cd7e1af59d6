import { celEnv, type CelType, type parse } from '@bufbuild/cel';
import { BOOL, DYN, DOUBLE, INT, NULL, STRING, TYPE, UINT, BYTES, DURATION, TIMESTAMP, list, map, typeName, type CelT } from './cel-schema.js';
import { regExpError } from './identity-match.js';
import { didYouMean } from '../text/did-you-mean.js';

/**
 * Static type check of a parsed CEL expression against declared variables. @bufbuild/cel 0.6.1 evaluates
 * the whole language but its own checker handles only constants and identifiers, so this walks the parsed
 * expression: undeclared variables and fields, operators and functions applied to the wrong types (the
 * overloads come from the evaluator's own function table, so what checks is what runs), and a non-bool
 * result. Unknown (`dyn`) values, such as an attestation's predicate, are checked when evaluated.
 */
/** A node of a parsed expression (cel.expr.Expr). */
export type Expr = ReturnType<typeof parse>['expr'];

export interface CheckError {
  /** Offset into the source of the offending node, when known. */
  offset?: number;
  message: string;
}

export const MAX_DEPTH = 48;

interface Overload {
  target?: CelT;
  args: CelT[];
  result: CelT;
}

const SPECIAL = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false', '_==_', '_!=_']);
const MACROS: Record<string, string> = {
  has: 'has() takes one field selection, such as has(image.created)',
  all: 'all() takes a variable and a condition: list.all(x, x > 0)',
  exists: 'exists() takes a variable and a condition: list.exists(x, x > 0)',
  exists_one: 'exists_one() takes a variable and a condition: list.exists_one(x, x > 0)',
  map: 'map() takes a variable and an expression: list.map(x, x * 2)',
  filter: 'filter() takes a variable and a condition: list.filter(x, x > 0)',
};
const TYPE_IDENTS = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type']);

let overloads: Map<string, Overload[]> | undefined;

function table(): Map<string, Overload[]> {
  if (overloads) return overloads;
  overloads = new Map();
  for (const f of celEnv().funcs) {
    const o: Overload = { args: f.arguments.map(fromCel), result: fromCel(f.result), ...(f.target && { target: fromCel(f.target) }) };
    const list = overloads.get(f.name) ?? [];
    list.push(o);
    overloads.set(f.name, list);
  }
  return overloads;
}

function fromCel(t: CelType): CelT {
  switch (t.kind) {
    case 'list':
      return list(fromCel(t.element));
    case 'map':
      return map(fromCel(t.key), fromCel(t.value));
    case 'object':
      return t.name === 'google.protobuf.Timestamp' ? TIMESTAMP : t.name === 'google.protobuf.Duration' ? DURATION : DYN;
    default:
      return SCALARS[t.name] ?? DYN;
  }
}

const SCALARS: Record<string, CelT> = { int: INT, uint: UINT, double: DOUBLE, bool: BOOL, string: STRING, bytes: BYTES, null_type: NULL, type: TYPE, dyn: DYN };

class Failure extends Error {
  constructor(
    readonly offset: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Checks `expr`; returns its result type, or the first error found. */
export function checkExpr(
  expr: Expr,
  variables: Readonly<Record<string, CelT>>,
  positions: Readonly<Record<string, number>>,
): { type: CelT } | { error: CheckError } {
  const at = (e: Expr) => positions[String(e.id)];
  const fail = (e: Expr, message: string): never => {
    throw new Failure(at(e), message);
  };

  const visit = (e: Expr, scope: ReadonlyMap<string, CelT>, depth: number): CelT => {
    if (depth > MAX_DEPTH) fail(e, `expression nests more than ${MAX_DEPTH} levels deep`);
    const kind = e.exprKind;
    switch (kind.case) {
      case 'constExpr': {
        const c = kind.value.constantKind;
        switch (c.case) {
          case 'boolValue':
            return BOOL;
          case 'int64Value':
            return INT;
          case 'uint64Value':
            return UINT;
          case 'doubleValue':
            return DOUBLE;
          case 'stringValue':
            return STRING;
          case 'bytesValue':
            return BYTES;
          case 'nullValue':
            return NULL;
          default:
            return fail(e, `unsupported constant ${String(c.case)}`);
        }
      }
      case 'identExpr': {
        const name = kind.value.name;
        const t = scope.get(name) ?? variables[name];
        if (t) return t;
        if (TYPE_IDENTS.has(name)) return TYPE;
        return fail(e, `undeclared reference to '${name}'${suggest(name, [...scope.keys(), ...Object.keys(variables)])}`);
      }
      case 'selectExpr': {
        const operand = kind.value.operand;
        if (!operand) return fail(e, 'selection without an operand');
        const t = visit(operand, scope, depth + 1);
        const field = kind.value.field;
        const ft = selectField(t, field, e);
        return kind.value.testOnly ? BOOL : ft;
      }
      case 'callExpr':
        return call(e, kind.value.function, kind.value.target, kind.value.args, scope, depth);
      case 'listExpr': {
        if (kind.value.optionalIndices.length) fail(e, 'optional list elements are not supported');
        const elems = kind.value.elements.map((x) => visit(x, scope, depth + 1));
        return list(common(elems));
      }
      case 'structExpr': {
        if (kind.value.messageName) return fail(e, `message construction (${kind.value.messageName}{…}) is not supported`);
        const keys: CelT[] = [];
        const values: CelT[] = [];
        for (const entry of kind.value.entries) {
          if (entry.optionalEntry) fail(e, 'optional map entries are not supported');
          if (entry.keyKind.case !== 'mapKey' || !entry.value) return fail(e, 'malformed map literal');
          const kt = visit(entry.keyKind.value, scope, depth + 1);
          if (!['dyn', 'string', 'int', 'uint', 'bool'].includes(kt.k)) fail(entry.keyKind.value, `a map key cannot be ${typeName(kt)}`);
          keys.push(kt);
          values.push(visit(entry.value, scope, depth + 1));
        }
        return map(common(keys), common(values));
      }
      case 'comprehensionExpr': {
        const c = kind.value;
        if (c.iterVar2) return fail(e, 'two-variable comprehensions are not supported');
        if (!c.iterRange || !c.accuInit || !c.loopCondition || !c.loopStep || !c.result) return fail(e, 'malformed comprehension');
        const range = visit(c.iterRange, scope, depth + 1);
        let elem: CelT;
        if (range.k === 'list') elem = range.elem;
        else if (range.k === 'map') elem = range.key;
        else if (range.k === 'record') elem = STRING;
        else if (range.k === 'dyn') elem = DYN;
        else return fail(c.iterRange, `cannot iterate over ${typeName(range)}`);
        const accu = visit(c.accuInit, scope, depth + 1);
        const inner = new Map(scope);
        inner.set(c.accuVar, accu);
        inner.set(c.iterVar, elem);
        visit(c.loopCondition, inner, depth + 1);
        const step = visit(c.loopStep, inner, depth + 1);
        if (!same(step, accu)) inner.set(c.accuVar, DYN);
        return visit(c.result, inner, depth + 1);
      }
      default:
        return fail(e, 'unsupported expression');
    }
  };

  const selectField = (t: CelT, field: string, e: Expr): CelT => {
    switch (t.k) {
      case 'record': {
        const ft = t.fields[field];
        if (!ft) return fail(e, `${t.name} has no field '${field}'${suggest(field, Object.keys(t.fields))}`);
        return ft;
      }
      case 'map':
        if (!['dyn', 'string'].includes(t.key.k)) return fail(e, `cannot select '${field}' from ${typeName(t)}`);
        return t.value;
      case 'dyn':
        return DYN;
      default:
        return fail(e, `cannot select '${field}' from ${typeName(t)}`);
    }
  };

  const call = (e: Expr, fn: string, target: Expr | undefined, args: Expr[], scope: ReadonlyMap<string, CelT>, depth: number): CelT => {
    if (fn in MACROS && !table().has(fn)) return fail(e, MACROS[fn]!);
    if (fn === '_[?_]' || fn === '_?._' || fn.startsWith('optional')) return fail(e, 'optional syntax is not supported');
    const t = target ? visit(target, scope, depth + 1) : undefined;
    const a = args.map((x) => visit(x, scope, depth + 1));
    if (SPECIAL.has(fn)) return special(e, fn, a, args);
    const candidates = table().get(fn);
    if (!candidates) return fail(e, `undeclared function '${fn}'`);
    const fits = candidates.filter(
      (o) => o.args.length === a.length && (o.target === undefined) === (t === undefined) && (!t || accepts(o.target!, t)) && o.args.every((p, i) => accepts(p, a[i]!)),
    );
    if (fits.length === 0) {
      const shape = `${t ? `${typeName(t)}.` : ''}${display(fn)}(${a.map(typeName).join(', ')})`;
      return fail(e, `no matching overload for ${shape}`);
    }
    if (fn === 'matches') {
      // A pattern written in the policy is checked now, like the *RegExp fields: RE2 or refused.
      const pattern = (target ? args[0] : args[1])?.exprKind;
      if (pattern?.case === 'constExpr' && pattern.value.constantKind.case === 'stringValue') {
        const problem = regExpError(pattern.value.constantKind.value);
        if (problem) fail(target ? args[0]! : args[1]!, `invalid regular expression: ${problem}`);
      }
    }
    if (fn === '@in') {
      const [elem, coll] = a as [CelT, CelT];
      const member = coll.k === 'list' ? coll.elem : coll.k === 'map' ? coll.key : coll.k === 'record' ? STRING : DYN;
      if (!comparable(elem, member)) fail(e, `'in' looks for ${typeName(elem)} in ${typeName(coll)}, which is never true`);
    }
    return common(fits.map((o) => o.result));
  };

  const special = (e: Expr, fn: string, a: CelT[], args: Expr[]): CelT => {
    switch (fn) {
      case '_&&_':
      case '_||_':
        a.forEach((x, i) => {
          if (!isBool(x)) fail(args[i]!, `${display(fn)} needs bool operands, not ${typeName(x)}`);
        });
        return BOOL;
      case '@not_strictly_false':
        return BOOL;
      case '_?_:_':
        if (!isBool(a[0]!)) fail(args[0]!, `the condition of ?: must be bool, not ${typeName(a[0]!)}`);
        return common([a[1]!, a[2]!]);
      case '_==_':
      case '_!=_':
        if (!comparable(a[0]!, a[1]!)) fail(e, `no matching overload for ${display(fn)}(${typeName(a[0]!)}, ${typeName(a[1]!)})`);
        return BOOL;
      case '_[_]': {
        const [c, i] = a as [CelT, CelT];
        if (c.k === 'dyn') return DYN;
        if (c.k === 'list') {
          if (!['int', 'uint', 'dyn'].includes(i.k)) fail(args[1]!, `a list index must be int, not ${typeName(i)}`);
          return c.elem;
        }
        if (c.k === 'map') {
          if (!accepts(c.key, i)) fail(args[1]!, `${typeName(c)} has no ${typeName(i)} keys`);
          return c.value;
        }
        if (c.k === 'record') {
          const key = args[1]!.exprKind;
          if (key.case === 'constExpr' && key.value.constantKind.case === 'stringValue') return selectField(c, key.value.constantKind.value, args[1]!);
          if (!accepts(STRING, i)) fail(args[1]!, `${c.name} has no ${typeName(i)} keys`);
          return DYN;
        }
        return fail(e, `cannot index ${typeName(c)}`);
      }
      default:
        return fail(e, `unsupported operator ${fn}`);
    }
  };

  try {
    return { type: visit(expr, new Map(), 0) };
  } catch (err) {
    if (err instanceof Failure) return { error: { offset: err.offset, message: err.message } };
    if (err instanceof RangeError) return { error: { message: `expression nests too deeply` } };
    throw err;
  }
}

function isBool(t: CelT): boolean {
  return t.k === 'bool' || t.k === 'dyn';
}

/** Whether a value of type `arg` may be passed where `param` is declared. */
export function accepts(param: CelT, arg: CelT): boolean {
  if (param.k === 'dyn' || arg.k === 'dyn') return true;
  if (param.k === 'list') return arg.k === 'list' && accepts(param.elem, arg.elem);
  if (param.k === 'map') {
    if (arg.k === 'record') return accepts(param.key, STRING);
    return arg.k === 'map' && accepts(param.key, arg.key) && accepts(param.value, arg.value);
  }
  if (param.k === 'record') return arg.k === 'record' ? arg.name === param.name : arg.k === 'map' && accepts(STRING, arg.key);
  return param.k === arg.k;
}

const NUMERIC = new Set(['int', 'uint', 'double']);

/** Whether `==` between the two types can ever be true (CEL compares numbers across int, uint and double). */
function comparable(a: CelT, b: CelT): boolean {
  if (a.k === 'dyn' || b.k === 'dyn' || a.k === 'null' || b.k === 'null') return true;
  if (NUMERIC.has(a.k) && NUMERIC.has(b.k)) return true;
  if (a.k === 'list' && b.k === 'list') return comparable(a.elem, b.elem);
  if ((a.k === 'map' || a.k === 'record') && (b.k === 'map' || b.k === 'record')) return true;
  return a.k === b.k;
}

function same(a: CelT, b: CelT): boolean {
  return typeName(a) === typeName(b);
}

/** One type when all agree, else dyn. */
function common(types: CelT[]): CelT {
  if (types.length === 0) return DYN;
  return types.every((t) => same(t, types[0]!)) ? types[0]! : DYN;
}

/** An operator as written (`'>'`, `'in'`), a function by its name. */
function display(fn: string): string {
  if (!/^[_@]|_$/.test(fn)) return fn;
  const op = /^_(.+)_$/.exec(fn)?.[1] ?? /^(.+)_$/.exec(fn)?.[1] ?? fn.replace(/^@/, '');
  return `'${op}'`;
}

/** ` (did you mean 'x'?)` for a name within two edits of a known one (internal names never suggested). */
function suggest(name: string, known: string[]): string {
  return didYouMean(name, known.filter((k) => !k.startsWith('@') && !k.startsWith('__')), (k) => `'${k}'`);
}
