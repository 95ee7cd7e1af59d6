import { Router } from 'express';
import type { Database } from '../db/types.js';
import type { BlobStore } from '../store/blob-store.js';

/** Liveness, readiness and Prometheus metrics. */
export function opsRoutes(d: { db: Database; store: BlobStore; scrape: () => Promise<string> }): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const problems: string[] = [];
    try {
      await d.db.ping();
    } catch (err) {
      problems.push(`database: ${(err as Error).message}`);
    }
    try {
      await d.store.check();
    } catch (err) {
      problems.push(`store: ${(err as Error).message}`);
    }
    res.status(problems.length === 0 ? 200 : 503).json({ status: problems.length === 0 ? 'ready' : 'unavailable', problems });
  });
  // Every worker of this machine's counts, whichever worker the scrape lands on.
  r.get('/metrics', async (_req, res) => {
    const text = await d.scrape();
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end(text);
  });
  return r;
}
