import { loadConfigFile } from '../config/load.js';
import { serve } from '../main.js';
import type { Command } from './command.js';
import { configFile } from './config-path.js';
import { checkFlags } from './audit-flags.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the proxy',
  usage: `portcullis serve --config FILE

Runs the pull-through proxy with the given JSON config. Logs JSON lines to stdout, answers
GET /healthz once serving, and stops cleanly on SIGTERM or SIGINT.`,
  async run(args) {
    checkFlags(args, ['config']);
    const config = loadConfigFile(configFile(args));
    await serve(config);
    return -1; // keep running until a signal
  },
};
