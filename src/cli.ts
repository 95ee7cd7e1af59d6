#!/usr/bin/env node
import { ConfigValidationError } from './config/validator.js';
import { EXIT, parseArgs, UsageError, type Command } from './commands/command.js';
import { TrustMaterialError } from './verify/trust-material.js';
import { serveCommand } from './commands/serve.js';
import { configCheckCommand } from './commands/config-check.js';
import { extraCommands } from './commands/index.js';
import { packageVersion } from './version.js';
import { didYouMean } from './text/did-you-mean.js';

const commands: Command[] = [serveCommand, configCheckCommand, ...extraCommands];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `portcullis: a pull-through OCI registry proxy that verifies images before serving them

Usage: portcullis <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run "portcullis <command> --help" for a command's options; "portcullis --version" prints the version.
Without --config, commands read the file PORTCULLIS_CONFIG names, else ./portcullis.json, else
/etc/portcullis/config.json.
`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-v') {
    process.stdout.write(`portcullis ${packageVersion()}\n`);
    return EXIT.ok;
  }
  if (!first || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(help());
    return first ? EXIT.ok : EXIT.usage;
  }
  // Commands may be one word ("serve") or two ("audit verify").
  const two = `${first} ${rest[0] ?? ''}`;
  const command = commands.find((c) => c.name === two) ?? commands.find((c) => c.name === first);
  if (!command) {
    const group = commands.filter((c) => c.name.startsWith(`${first} `));
    if (group.length > 0) {
      const text = `Usage: portcullis ${first} <command> [options]\n\nCommands:\n${group
        .map((c) => `  ${c.name.padEnd(24)}  ${c.summary}`)
        .join('\n')}\n\nRun "portcullis ${first} <command> --help" for a command's options.\n`;
      const asked = rest[0] === undefined || rest[0] === '--help' || rest[0] === '-h';
      const hint = didYouMean(rest[0] ?? '', group.map((c) => c.name.slice(first.length + 1)), (k) => `"${first} ${k}"`);
      (asked ? process.stdout : process.stderr).write(asked ? text : `portcullis: unknown command "${first} ${rest[0]}"${hint}\n\n${text}`);
      return rest[0] === '--help' || rest[0] === '-h' ? EXIT.ok : EXIT.usage;
    }
    const what = first.startsWith('-') ? `option "${first}"` : `command "${first}"${didYouMean(first, new Set(commands.map((c) => c.name.split(' ')[0]!)), (k) => `"${k}"`)}`;
    process.stderr.write(`portcullis: unknown ${what}\n\n${help()}`);
    return EXIT.usage;
  }
  const args = parseArgs(command.name === two ? rest.slice(1) : rest, ['help', ...(command.booleanFlags ?? [])]);
  if (args.flags.help) {
    process.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
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
    // Usage and configuration (the config file, the trust material it names) are 2; any other failure is 4,
    // never 1, which says the audit log was tampered with.
    const usage = err instanceof UsageError || err instanceof ConfigValidationError || err instanceof TrustMaterialError;
    process.exitCode = usage ? EXIT.usage : EXIT.failed;
  },
);
