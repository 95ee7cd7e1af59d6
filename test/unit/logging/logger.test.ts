import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createLogger } from '../../../src/logger.js';

function capture(level: Parameters<typeof createLogger>[0] = 'info', base: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const log = createLogger(level, base, (line) => lines.push(line));
  return { log, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

describe('logger', () => {
  it('writes one JSON line per record with an ISO time, the level by name and the message', () => {
    const { log, records, lines } = capture('info', { service: 'portcullis' });
    log.debug('hidden');
    log.info('pulled', { repository: 'org/app', bytes: 12 });
    log.error('broke', { status: 502 });
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [info, error] = records();
    expect(records()).toHaveLength(2);
    expect(info).toMatchObject({ level: 'info', msg: 'pulled', service: 'portcullis', repository: 'org/app', bytes: 12 });
    expect(new Date(info!.time as string).toISOString()).toBe(info!.time);
    expect(error).toMatchObject({ level: 'error', msg: 'broke', status: 502 });
  });

  it('redacts secret-looking keys at the top, nested, in arrays and in child bindings', () => {
    const { log, lines, records } = capture('debug');
    const fields = { token: 'tok-1', headers: { authorization: 'Bearer tok-2', accept: 'json' }, list: [{ Cookie: 'c-3' }], upstream: { passwordEnv: 'PW' } };
    log.warn('request', fields);
    log.child({ secret: 's-4', nested: { apiToken: 't-5' }, worker: 1 }).info('child');
    const text = lines.join('');
    for (const s of ['tok-1', 'tok-2', 'c-3', 'PW', 's-4', 't-5']) expect(text).not.toContain(s);
    const [warn, child] = records();
    expect(warn).toMatchObject({ token: '[redacted]', headers: { authorization: '[redacted]', accept: 'json' }, list: [{ Cookie: '[redacted]' }] });
    expect(child).toMatchObject({ secret: '[redacted]', nested: { apiToken: '[redacted]' }, worker: 1, msg: 'child' });
    // The caller's objects are not changed.
    expect(fields.headers.authorization).toBe('Bearer tok-2');
  });

  it('does not lose lines written just before the process exits, even into a pipe', () => {
    const logger = join(import.meta.dirname, '../../../dist/logger.js');
    const script = `import { createLogger } from ${JSON.stringify(logger)};
      const log = createLogger('info');
      for (let i = 0; i < 2000; i++) log.info('line', { i, pad: 'x'.repeat(200) });
      process.exit(0);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2000);
    expect(JSON.parse(lines[1999]!)).toMatchObject({ msg: 'line', i: 1999 });
  });
});
