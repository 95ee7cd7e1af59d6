import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchemaText } from '../../../src/config/schema.js';

const root = join(import.meta.dirname, '../../..');

describe('config.schema.json', () => {
  it('is the schema the loader validates with (run `npm run schema` after changing src/config/schema.ts)', () => {
    expect(readFileSync(join(root, 'config.schema.json'), 'utf8')).toBe(configSchemaText());
  });

  it('is named by the example config and shipped in the package', () => {
    const example = JSON.parse(readFileSync(join(root, 'config.example.json'), 'utf8')) as Record<string, unknown>;
    expect(example.$schema).toBe('./config.schema.json');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('config.schema.json');
  });

  it('describes settings and policy rules for editors, unknown keys refused', () => {
    const schema = JSON.parse(configSchemaText()) as { properties: Record<string, any>; additionalProperties: boolean; required: string[] };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['upstreams']);
    const upstream = schema.properties.upstreams.items;
    expect(upstream.properties.tagDrift.enum).toEqual(['follow', 'keep-verified', 'deny']);
    expect(upstream.properties.tagTtl.default).toBe('5m');
    const rule = schema.properties.policies.items;
    expect(rule.properties.mode.enum).toEqual(['enforce', 'warn', 'allow', 'deny']);
    expect(rule.required).toEqual(expect.arrayContaining(['name', 'match', 'mode']));
  });
});
