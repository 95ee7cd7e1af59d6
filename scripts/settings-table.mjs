// Rewrites README.md's generated parts: the table of every setting (from the config schema, so run after a
// build: `npm run docs:settings` does both) and the table of contents (from the README's own headings).
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsTable } from '../dist/config/settings-table.js';
import { withReadmeToc } from './readme-toc.mjs';

const readme = new URL('../README.md', import.meta.url);
writeFileSync(readme, withReadmeToc(withSettingsTable(readFileSync(readme, 'utf8'))));
