import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { startupLine } from '../../../src/startup-report.js';
import { packageVersion } from '../../../src/version.js';

const config = (extra: Record<string, unknown>) =>
  parseConfig({ upstreams: [{ name: 'docker.io', url: 'https://registry-1.docker.io' }], policies: [], ...extra }, '/etc/portcullis/config.json', {});

describe('the human start-up line', () => {
  it('says the console is off when it was not built, and how to build it', () => {
    expect(startupLine(config({ listen: '0.0.0.0:5000' }), { port: 5000, policyVersion: 3, consoleBuilt: false })).toBe(
      `portcullis ${packageVersion()} listening on http://0.0.0.0:5000 (console: off (not built: run npm run build); upstreams: docker.io; policy version 3)`,
    );
  });

  it('writes IPv6 hosts in brackets and https with TLS', () => {
    const line = startupLine(config({ listen: '[::]:5443', tls: { cert: 'c.pem', key: 'k.pem' } }), { port: 5443, policyVersion: 1, consoleBuilt: true });
    expect(line).toContain('listening on https://[::]:5443 (console: https://[::1]:5443/ui/ (no auth.tokens: nobody can sign in);');
  });
});
