import { Router } from 'express';
import type { Identity } from '../auth/token-registry.js';

/** /whoami (any token): who the presented token is, so a client can show it and offer what the role may do. */
export function whoamiRoutes(): Router {
  const r = Router();
  r.get('/whoami', (_req, res) => {
    const identity = res.locals.identity as Identity;
    // A single sign-on session also gets its person and the CSRF token its writes must echo.
    const csrfToken = res.locals.csrfToken as string | undefined;
    res.json({ name: identity.name, role: identity.role, ...(identity.person ? { person: identity.person } : {}), ...(csrfToken ? { csrfToken } : {}) });
  });
  return r;
}
