import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { cruise, type ICruiseOptions, type IForbiddenRuleType, type IViolation } from 'dependency-cruiser';

// The import rule of src/ (docs/architecture.md), checked the way `npx depcruise src` checks it.
const root = resolve(import.meta.dirname, '../..');
const ruleSet = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as {
  forbidden: IForbiddenRuleType[];
  options: ICruiseOptions;
};

async function violations(baseDir: string): Promise<IViolation[]> {
  const result = await cruise(['src'], {
    ...ruleSet.options,
    baseDir,
    tsConfig: { fileName: join(root, 'tsconfig.json') },
    validate: true,
    ruleSet: { forbidden: ruleSet.forbidden },
  });
  if (typeof result.output === 'string') throw new Error(result.output);
  return result.output.summary.violations;
}

/** One line per broken rule: which import, which rule, and what the rule says. */
function describeViolations(found: IViolation[]): string[] {
  return found.map((v) => {
    const rule = ruleSet.forbidden.find((r) => r.name === v.rule.name);
    const path = v.cycle && v.cycle.length > 0 ? [v.from, ...v.cycle.map((c) => c.name)].join(' -> ') : `${v.from} -> ${v.to}`;
    return `${path} breaks ${v.rule.name}: ${rule?.comment ?? ''}`;
  });
}

describe('the import rule', () => {
  it('holds for src/: no import climbs a layer, none runs in a circle', async () => {
    expect(describeViolations(await violations(root))).toEqual([]);
  }, 120_000);

  it('names the import that climbs and the import circle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-arch-'));
    try {
      const files: Record<string, string> = {
        'src/oci/digest.ts': "import type { Target } from '../pull/target.js';\nexport type Digest = Target;\n",
        'src/pull/target.ts': "export interface Target { name: string }\n",
        'src/api/a-routes.ts': "import { b } from './b-routes.js';\nexport const a = (): number => b();\n",
        'src/api/b-routes.ts': "import { a } from './a-routes.js';\nexport const b = (): number => a();\n",
      };
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      const lines = describeViolations(await violations(dir));
      expect(lines).toContainEqual(expect.stringMatching(/^src\/oci\/digest\.ts -> src\/pull\/target\.ts breaks layer-oci: oci may not import .*pull/));
      expect(lines).toContainEqual(expect.stringMatching(/^src\/api\/a-routes\.ts -> src\/api\/b-routes\.ts -> src\/api\/a-routes\.ts breaks no-circular/));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
