import { Router } from 'express';
import type { Identity } from '../auth/token-registry.js';

/** /whoami (any token): who the presented token is, so a client can show it and offer what the role may do. */
export function whoamiRoutes(): Router {
  const r = Router();
  r.get('/whoami', (_req, res) => {
    const identity = res.locals.identity as Identity;
    res.json({ name: identity.name, role: identity.role });
  });
  return r;
}
