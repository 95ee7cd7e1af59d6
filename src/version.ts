import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The version of the installed package (package.json sits beside dist/ and src/). */
export function packageVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    cached = pkg.version ?? 'unknown';
  }
  return cached;
}
