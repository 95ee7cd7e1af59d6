import type { z } from 'zod';
import { didYouMean } from '../text/did-you-mean.js';

type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
  in?: z.ZodType;
};

const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The setting names an object may have at `path` (object keys and array indexes from the file's root). */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  const visit = (s: z.ZodType, rest: readonly PropertyKey[]): void => {
    const def = defOf(s);
    if (def.innerType) return visit(def.innerType, rest);
    if (def.type === 'pipe' && def.in) return visit(def.in, rest);
    if (def.type === 'union') return def.options?.forEach((o) => visit(o, rest));
    if (rest.length === 0) {
      if (def.type === 'object') for (const k of Object.keys(def.shape ?? {})) keys.add(k);
      return;
    }
    const [head, ...tail] = rest;
    if (def.type === 'object' && typeof head === 'string' && def.shape?.[head]) visit(def.shape[head], tail);
    else if (def.type === 'array' && typeof head === 'number' && def.element) visit(def.element, tail);
    else if (def.type === 'record' && def.valueType) visit(def.valueType, tail);
  };
  visit(schema, path);
  return [...keys];
}

/**
 * The message for a key the schema does not know at `path`: "unknown setting", and the setting it
 * probably is, written as a full path (`server.workers`) so it can be searched for in the README.
 */
export function unknownSettingMessage(schema: z.ZodType, path: readonly PropertyKey[], key: string, pathText: (parts: readonly PropertyKey[]) => string): string {
  return `unknown setting${didYouMean(key, knownKeysAt(schema, path), (k) => pathText([...path, k]))}`;
}
