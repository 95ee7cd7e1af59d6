import type { WebhookConfig } from '../config/types.js';
import type { AuditRow } from '../db/types.js';

/** `policy.*` → /^policy\..*$/: `*` matches any text, dots included; everything else is literal. */
export function kindPattern(glob: string): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

/** The webhooks that want an audit event: one of their kinds matches and, if it carries a decision, one of theirs. */
export function router(webhooks: readonly WebhookConfig[]): (row: Pick<AuditRow, 'kind' | 'decision'>) => string[] {
  const compiled = webhooks.map((w) => ({ name: w.name, kinds: w.events.map(kindPattern), decisions: w.decisions }));
  return (row) => compiled
    .filter((w) => w.kinds.some((k) => k.test(row.kind)))
    .filter((w) => !w.decisions || row.decision === null || w.decisions.includes(row.decision))
    .map((w) => w.name);
}
