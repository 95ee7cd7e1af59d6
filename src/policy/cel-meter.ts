import { isCelList, isCelMap } from '@bufbuild/cel';

/**
 * A cost budget for one CEL evaluation. @bufbuild/cel has no cost limit of its own, so Portcullis charges
 * what an evaluation can spend: every standard function charges 1 plus the size of its operands (list and
 * map elements, 16 characters of string; `matches` charges string size times pattern size), and every
 * comprehension (`all`, `exists`, `map`, `filter`…) charges, before it starts, its number of elements times
 * the size of its loop body. Nested comprehensions are charged each time they run. Past the budget every
 * further call fails at once and the evaluation is an error, so the work done is bounded by the budget
 * and the expression's size (itself limited when the policy is loaded).
 */
export const RANGE_FUNCTION = '@range';

/** Functions whose cost does not grow with their operands. */
const CONSTANT_COST = new Set(['size', 'type', 'dyn', 'int', 'uint', 'double', 'bool', 'timestamp', 'duration']);

export class Meter {
  private left = 0;
  private active = false;
  exceeded = false;

  start(limit: number): void {
    this.left = limit;
    this.active = true;
    this.exceeded = false;
  }

  stop(): void {
    this.active = false;
  }

  get remaining(): number {
    return this.active ? Math.max(0, this.left) : Number.POSITIVE_INFINITY;
  }

  charge(units: number): void {
    if (!this.active) return;
    this.left -= units;
    if (this.left < 0 || this.exceeded) {
      this.exceeded = true;
      throw new Error('cost limit exceeded');
    }
  }
}

/** The cost of one call of a standard function, counting operand sizes up to `limit`. */
export function costOf(name: string, target: unknown, args: readonly unknown[], limit = Number.POSITIVE_INFINITY): number {
  if (CONSTANT_COST.has(name)) return 1;
  const operands = target === undefined ? args : [target, ...args];
  if (name === 'matches') return 1 + weigh(operands[0], limit) * weigh(operands[1], limit);
  let total = 1;
  for (const v of operands) total += weigh(v, limit - total);
  return total;
}

/** Elements a comprehension over `range` iterates. */
export function sizeOf(range: unknown): number {
  if (isCelList(range) || isCelMap(range)) return range.size;
  return 1;
}

/** Size of a value: 1 per scalar, 16 characters of string or bytes, list or map element (keys too); stops past `limit`. */
export function weigh(value: unknown, limit = Number.POSITIVE_INFINITY): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0 && total <= limit) {
    const v = stack.pop();
    total += 1;
    if (typeof v === 'string') total += Math.floor(v.length / 16);
    else if (v instanceof Uint8Array) total += Math.floor(v.length / 16);
    else if (isCelList(v)) for (const x of v) stack.push(x);
    else if (isCelMap(v)) for (const [k, x] of v.entries()) stack.push(k, x);
  }
  return total;
}
