import type { Command } from './command.js';

/** Commands beyond serve and check-config (audit, policy), registered here. */
export const extraCommands: Command[] = [];
