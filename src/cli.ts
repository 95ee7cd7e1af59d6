#!/usr/bin/env node
import { ConfigValidationError } from './config/validator.js';
import { parseArgs, UsageError, type Command } from './commands/command.js';
import { serveCommand } from './commands/serve.js';
import { configCheckCommand } from './commands/config-check.js';
import { extraCommands } from './commands/index.js';

const commands: Command[] = [serveCommand, configCheckCommand, ...extraCommands];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `portcullis: a pull-through OCI registry proxy that verifies images before serving them

Usage: portcullis <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run "portcullis <command> --help" for a command's options.
`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(help());
    return first ? 0 : 2;
  }
  // Commands may be one word ("serve") or two ("audit verify").
  const two = `${first} ${rest[0] ?? ''}`;
  const command = commands.find((c) => c.name === two) ?? commands.find((c) => c.name === first);
  if (!command) {
    process.stderr.write(`portcullis: unknown command "${first}"\n\n${help()}`);
    return 2;
  }
  const args = parseArgs(command.name === two ? rest.slice(1) : rest);
  if (args.flags.help) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    if (err instanceof UsageError) process.stderr.write(`portcullis: ${err.message}\n`);
    else if (err instanceof ConfigValidationError) process.stderr.write(`portcullis: ${err.message}\n`);
    else process.stderr.write(`portcullis: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  },
);
