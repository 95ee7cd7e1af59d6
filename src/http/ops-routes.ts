import { Router } from 'express';
import { accessSync, constants } from 'node:fs';
import type { Database } from '../db/types.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Metrics } from '../metrics.js';

/** Liveness, readiness and Prometheus metrics. */
export function opsRoutes(d: { db: Database; store: BlobStore; metrics: Metrics }): Router {
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
      accessSync(d.store.blobsDir, constants.W_OK);
      accessSync(d.store.tmpDir, constants.W_OK);
    } catch (err) {
      problems.push(`store: ${(err as Error).message}`);
    }
    res.status(problems.length === 0 ? 200 : 503).json({ status: problems.length === 0 ? 'ready' : 'unavailable', problems });
  });
  r.get('/metrics', (_req, res) => {
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end(d.metrics.render());
  });
  return r;
}
