// `npm start`: runs the proxy (`portcullis serve`, with config.example.json unless --config is given),
// building first only when dist/ is missing or older than the sources. The proxy runs in this very process
// (package.json execs it), so SIGTERM or SIGINT to the process npm starts reaches the proxy, which drains.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const outputs = [cli, join(root, 'dist', 'ui', 'index.html')];
const sources = ['src', 'ui', 'tsconfig.json'].map((p) => join(root, p));

/** Newest modification time under `path` (0 when absent). */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), stat.mtimeMs);
}

const built = Math.min(...outputs.map((p) => newest(p) || -1));
if (built < 0 || built < Math.max(...sources.map(newest))) {
  process.stderr.write('portcullis: dist/ is missing or older than the sources; building first (npm run build)\n');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const args = process.argv.slice(2);
const hasConfig = args.some((a) => a === '--config' || a.startsWith('--config='));
// As if run as `node dist/cli.js serve ...`: cluster workers re-run argv[1] with the same arguments.
process.argv = [process.argv[0], cli, 'serve', ...(hasConfig ? [] : ['--config', join(root, 'config.example.json')]), ...args];
await import(pathToFileURL(cli).href);
