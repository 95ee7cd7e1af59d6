import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigValidationError } from '../../../src/config/validator.js';

const minimal = {
  upstreams: [{ name: 'docker.io', url: 'https://registry-1.docker.io' }],
  policies: [{ name: 'open', match: ['**'], mode: 'allow' }],
};

describe('export.signingKey', () => {
  it('is resolved against the config folder and checked at load: an Ed25519 private key, or an error naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-export-key-'));
    const source = join(dir, 'config.json');
    writeFileSync(join(dir, 'ed.pem'), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'ec.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect(parseConfig({ ...minimal, export: { signingKey: 'ed.pem' } }, source, {}).export).toEqual({ signingKey: join(dir, 'ed.pem') });
    expect(parseConfig(minimal, source, {}).export).toBeUndefined();
    const errors = (raw: unknown): string[] => {
      try {
        parseConfig(raw, source, {});
        return [];
      } catch (e) {
        return (e as ConfigValidationError).errors.map((x) => `${x.path}: ${x.message}`);
      }
    };
    expect(errors({ ...minimal, export: { signingKey: 'missing.pem' } })).toEqual([`export.signingKey: file not found (${join(dir, 'missing.pem')})`]);
    expect(errors({ ...minimal, export: { signingKey: 'ec.pem' } })[0]).toMatch(/^export\.signingKey: .*ec\.pem: must be an Ed25519 private key/);
    expect(errors({ ...minimal, export: { signingkey: 'ed.pem' } })).toEqual(['export.signingkey: unknown setting (did you mean export.signingKey?)']);
  });
});
