/**
 * Names a caller may give (query parameters, body fields): anything else is refused rather than ignored, since
 * an ignored misspelling (`?dryrun=true`, `?decison=deny`) silently does something else than was asked.
 */

import { closestName } from './did-you-mean.js';

export interface NameError {
  path: string;
  message: string;
}

/**
 * One error per key of `input` that is not in `known`, naming it (with a close known name, if any) and what
 * is known. `what` says what the keys are: "parameter of this endpoint", "field of this body".
 */
export function unknownNames(input: Record<string, unknown>, known: readonly string[], what: string): NameError[] {
  const list = known.length > 0 ? known.join(', ') : 'none';
  return Object.keys(input)
    .filter((key) => !known.includes(key))
    .map((key) => {
      const close = closestName(key, known);
      return { path: key, message: `is not a ${what}${close ? ` (did you mean ${close}?)` : ''}; known: ${list}` };
    });
}
