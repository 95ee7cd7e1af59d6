import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { loadConfigFile, READ_ONLY } from '../config/load.js';
import type { Config } from '../config/types.js';
import { EXIT, UsageError, type Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';

export const healthcheckCommand: Command = {
  name: 'healthcheck',
  summary: 'exit 0 when the proxy the config describes answers /healthz on this machine',
  usage: `portcullis healthcheck --config FILE [--timeout SECONDS]

Asks GET /healthz of the proxy listening where the config's "listen" says, over HTTPS when the config
has "tls", on this machine's loopback. Exits 0 when it answers 200, 1 otherwise (the container
HEALTHCHECK uses it). The certificate is not checked: it names the public host, not loopback.`,
  async run(args) {
    checkFlags(args, ['config', 'timeout']);
    const config = loadConfigFile(configFile(args), process.env, READ_ONLY);
    const timeoutMs = Number(args.flags.timeout ?? 3) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout must be a number of seconds above 0');
    const status = await healthz(config, timeoutMs);
    if (status === 200) return EXIT.ok;
    process.stderr.write(`portcullis: ${healthzUrl(config)} ${typeof status === 'number' ? `answered ${status}` : status}\n`);
    return EXIT.finding;
  },
};

/** Where this machine reaches the configured listener: a wildcard address means loopback. */
export function healthzUrl(config: Config): string {
  const { host, port } = config.listen;
  const local = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `${config.tls ? 'https' : 'http'}://${local}:${port}/healthz`;
}

function healthz(config: Config, timeoutMs: number): Promise<number | string> {
  const url = healthzUrl(config);
  const send = config.tls ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(url, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`did not answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end();
  });
}
