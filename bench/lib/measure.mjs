// wrk runs, upstream access-log accounting, RSS sampling and the printed table.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpus } from 'node:os';
import { readdir, readFile } from 'node:fs/promises';
import { memoryOf, treeRssParts } from './systems.mjs';

const run = promisify(execFile);

/** `wrk --latency`: requests per second and p99 latency (ms). */
export async function wrk(url, { connections = 32, threads = cpus().length > 2 ? 2 : 1, seconds = 5, accept } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  if (accept) args.push('-H', `Accept: ${accept}`);
  const { stdout } = await run('wrk', [...args, url], { timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = parseLatency(/^\s+99%\s+([\d.]+\w+)/m.exec(stdout)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(stdout)?.[1];
  if (!Number.isFinite(rps)) throw new Error(`wrk output not understood:\n${stdout}`);
  return { rps, p99Ms: p99, non2xx, errors: errors ?? null };
}

function parseLatency(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

const ACCESS = /"(GET|HEAD) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;

/** Blob GETs the upstream served for these digests (from its access log), and their bytes. */
export async function upstreamBlobFetches(registry, digests) {
  await registry.requests(); // waits for the log to settle
  const wanted = new Set(digests);
  let gets = 0;
  let bytes = 0;
  for (const line of registry.logs()) {
    const m = ACCESS.exec(line);
    if (!m || m[1] !== 'GET') continue;
    const digest = /\/blobs\/(sha256:[0-9a-f]{64})/.exec(m[2])?.[1];
    if (!digest || !wanted.has(digest)) continue;
    gets++;
    bytes += m[4] === '-' ? 0 : Number(m[4]);
  }
  return { gets, bytes };
}

/** CPU seconds (user + system) used so far by these processes and their children. */
export async function cpuSeconds(pids) {
  const ticks = async (pid) => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  let total = 0;
  const all = new Set(pids);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (pids.includes(ppid)) all.add(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  for (const pid of all) total += await ticks(pid).catch(() => 0);
  return total / 100; // USER_HZ
}

/** Samples RSS every `everyMs` while `fn` runs; returns fn's value and the peak. */
export async function withRssSampling(pid, fn, { tree = false, everyMs = 50 } = {}) {
  let peak = 0;
  let peakProcess = 0;
  let stop = false;
  const sampler = (async () => {
    while (!stop) {
      try {
        const parts = tree ? await treeRssParts(pid) : { total: (await memoryOf(pid)).rss, largest: (await memoryOf(pid)).rss };
        peak = Math.max(peak, parts.total);
        peakProcess = Math.max(peakProcess, parts.largest);
      } catch (err) {
        if (peak === 0) console.error(`[bench] RSS sample of ${pid} failed: ${err.message}`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    const value = await fn();
    return { value, peakRss: peak, peakProcessRss: peakProcess };
  } finally {
    stop = true;
    await sampler;
  }
}

export function fmt(value, digits = 2) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a';
  if (typeof value !== 'number') return String(value);
  return value >= 1000 ? value.toFixed(0) : value.toFixed(digits);
}

/** Rows: [label, portcullis, peer, nginx, higherIsBetter]. Prints the table with both ratios. */
export function table(rows) {
  const head = ['metric', 'portcullis', 'peer (distribution proxy)', 'nginx (files)', 'P/peer', 'P/nginx'];
  const body = rows.map(([label, p, peer, nginx]) => [
    label, fmt(p), fmt(peer), fmt(nginx), ratio(p, peer), ratio(p, nginx),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || !b || Number.isNaN(a) || Number.isNaN(b)) return 'n/a';
  return `${(a / b).toFixed(2)}x`;
}
