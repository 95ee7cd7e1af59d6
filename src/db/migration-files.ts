import { readdirSync } from 'node:fs';

/**
 * The numbered migrations in `dir` (`NNNN_name.sql`), in order. Two files with one number are refused:
 * the runners record applied migrations by number, so the second would be skipped without a word.
 */
export function migrationFiles(dir: string): { version: number; file: string }[] {
  const files = readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const seen = new Map<number, string>();
  return files.map((file) => {
    const version = Number(file.slice(0, 4));
    const other = seen.get(version);
    if (other) throw new Error(`migrations ${other} and ${file} in ${dir} share the number ${version}: renumber one`);
    seen.set(version, file);
    return { version, file };
  });
}
