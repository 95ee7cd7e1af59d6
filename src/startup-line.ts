import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConsoleDir } from './http/console-routes.js';
import { startupLine } from './startup-report.js';
import type { App } from './app.js';

/** The start-up line for a running server (its real port, the policy it enforces, whether the console is built). */
export function humanStartupLine(running: { app: App; port: number }): string {
  return startupLine(running.app.config, {
    port: running.port,
    policyVersion: running.app.policy.current().version,
    consoleBuilt: existsSync(join(defaultConsoleDir(), 'index.html')),
  });
}
