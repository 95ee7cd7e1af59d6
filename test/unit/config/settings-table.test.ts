import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingsRows, settingsTable, TABLE_END, TABLE_START } from '../../../src/config/settings-table.js';

const root = join(import.meta.dirname, '../../..');
const readme = () => readFileSync(join(root, 'README.md'), 'utf8');
const between = (text: string, start: string, end: string) => text.slice(text.indexOf(start), text.indexOf(end) + end.length);

interface TocModule {
  readmeToc(readme: string): string;
  TOC_START: string;
  TOC_END: string;
}
const tocModule = (): Promise<TocModule> => import(join(root, 'scripts', 'readme-toc.mjs') as string) as Promise<TocModule>;

describe("README's generated parts (run `npm run docs:settings` after changing settings or headings)", () => {
  it('holds the table of every setting exactly as the config schema gives it', () => {
    expect(between(readme(), TABLE_START, TABLE_END)).toBe(settingsTable());
  });

  it('lists every setting with a type, a default and, for durations and sizes, a unit', () => {
    const rows = new Map(settingsRows().map((r) => [r.setting, r]));
    expect(rows.get('server.workers')).toMatchObject({ type: 'integer 1–256', default: 'the number of CPUs' });
    expect(rows.get('upstreams[].tagTtl')).toMatchObject({ type: 'duration', default: '`"5m"`', unit: '`ms`, `s`, `m`, `h`, `d`' });
    expect(rows.get('storage.maxSize')).toMatchObject({ type: 'size', unit: expect.stringContaining('GiB') });
    expect(rows.get('upstreams[].name')?.default).toBe('**required**');
    expect(rows.get('tls.cert')?.default).toBe('**required** in `tls`');
    for (const row of rows.values()) {
      expect(row.type, row.setting).not.toBe('');
      expect(row.default, row.setting).not.toBe('');
    }
  });

  it('has a table of contents that links every section', async () => {
    const { readmeToc, TOC_START, TOC_END } = await tocModule();
    const text = readme();
    expect(between(text, TOC_START, TOC_END)).toBe(readmeToc(text));
    expect(readmeToc(text)).toContain('- [Configuration](#configuration)');
    expect(readmeToc(text)).toContain('  - [Why was my pull refused?](#why-was-my-pull-refused)');
  });
});
