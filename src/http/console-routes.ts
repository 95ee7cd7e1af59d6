import { Router, type Response } from 'express';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Everything the console loads comes from this origin; no inline script or style. */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * Where the built console is: `dist/ui` beside `dist/http` (the build and the package); when this module
 * runs from `src/` (tests), the build in `dist/ui`.
 */
export function defaultConsoleDir(): string {
  const candidates = [join(HERE, '..', 'ui'), join(HERE, '..', '..', 'dist', 'ui')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!;
}

/**
 * The web console at /ui/: its files, index.html for /ui/ and for client-side routes under it, and a 404
 * saying how to build it when it was not built. The console talks to /api/v1 like any other client.
 */
export function consoleRoutes(dir = defaultConsoleDir()): Router {
  const root = resolve(dir);
  const r = Router();
  r.use('/ui', (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    secure(res);
    const raw = req.originalUrl.split('?')[0]!;
    if (raw === '/ui') {
      const query = req.originalUrl.slice(raw.length);
      res.redirect(301, `/ui/${query}`);
      return;
    }
    const index = join(root, 'index.html');
    if (!existsSync(index)) {
      plain(res, 404, 'The web console is not built. Build it with `npm run build` (or `npm run build:ui`) and restart.\n');
      return;
    }
    const rel = relativePath(raw.slice('/ui'.length));
    if (rel === undefined) {
      plain(res, 400, 'Bad console path.\n');
      return;
    }
    const file = rel === '' ? index : resolve(root, rel);
    // Decoded and resolved, the file must still be inside the console's directory.
    if (file !== index && !file.startsWith(root + sep)) {
      plain(res, 400, 'Bad console path.\n');
      return;
    }
    if (isFile(file)) return send(res, file, req.method === 'HEAD');
    // A path without an extension is a route of the console itself; a missing asset is a 404.
    if (extname(rel) === '') return send(res, index, req.method === 'HEAD');
    plain(res, 404, 'Not found.\n');
  });
  return r;
}

/** The decoded path below /ui/ without its leading slash, or undefined when it is malformed or climbs. */
function relativePath(pathname: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return undefined;
  return segments.join('/');
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function secure(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
}

function send(res: Response, file: string, headOnly: boolean): void {
  const size = statSync(file).size;
  // Built assets carry a content hash in their name, so a new build is a new URL.
  const hashed = /\/assets\/[^/]+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/.test(file.split(sep).join('/'));
  res.status(200);
  res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
  res.setHeader('Content-Length', String(size));
  res.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (headOnly) {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

function plain(res: Response, status: number, text: string): void {
  res.status(status);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}
