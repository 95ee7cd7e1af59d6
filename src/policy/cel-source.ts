import { unparse } from '@bufbuild/cel';
import type { Expr } from './cel-check.js';

/**
 * The text of a sub-expression, for deny reasons. The parser expands macros (`all`, `exists`, `has`…) into
 * comprehensions that @bufbuild/cel's unparse cannot print, so the macro calls the parser recorded are put
 * back first.
 */
export function sourceOf(expr: Expr, macros: Readonly<Record<string, Expr>>): string {
  try {
    return unparse(restore(expr, macros));
  } catch {
    return '…';
  }
}

function restore(e: Expr, macros: Readonly<Record<string, Expr>>): Expr {
  const macro = macros[String(e.id)];
  const node = macro ? ({ ...macro, id: e.id } as Expr) : e;
  const k = node.exprKind;
  const r = (x: Expr) => restore(x, macros);
  switch (k.case) {
    case 'callExpr':
      return { ...node, exprKind: { case: 'callExpr', value: { ...k.value, target: k.value.target && r(k.value.target), args: k.value.args.map(r) } } } as Expr;
    case 'selectExpr':
      return { ...node, exprKind: { case: 'selectExpr', value: { ...k.value, operand: k.value.operand && r(k.value.operand) } } } as Expr;
    case 'listExpr':
      return { ...node, exprKind: { case: 'listExpr', value: { ...k.value, elements: k.value.elements.map(r) } } } as Expr;
    case 'structExpr':
      return {
        ...node,
        exprKind: {
          case: 'structExpr',
          value: { ...k.value, entries: k.value.entries.map((en) => ({ ...en, value: en.value && r(en.value), keyKind: en.keyKind.case === 'mapKey' ? { case: 'mapKey', value: r(en.keyKind.value) } : en.keyKind })) },
        },
      } as Expr;
    default:
      return node;
  }
}
