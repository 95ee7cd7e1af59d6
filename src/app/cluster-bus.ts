import { LocalBus, type ClusterBus } from '../cluster/bus.js';
import type { PolicyVersions } from '../db/policy-versions.js';
import type { TrustChanges } from '../db/trust-changes.js';
import type { Logger } from '../logger.js';
import { mergeSnapshots, type Metrics } from '../metrics.js';
import type { RefreshingTrust } from '../verify/trust-refresh.js';

export interface BusListeners {
  log: Logger;
  metrics: Metrics;
  policies: PolicyVersions;
  trustChanges: TrustChanges;
  trust: RefreshingTrust;
  /** Drops what this process remembers of purged content. */
  forget(digests: string[]): void;
}

/**
 * The bus between this process and its sibling workers (a single process by default): what one worker changes,
 * every worker applies before the change is acknowledged.
 */
export function clusterBus(given: ClusterBus | undefined, l: BusListeners): { bus: ClusterBus; scrape: () => Promise<string> } {
  const { log, policies, trustChanges, trust } = l;
  const bus = given ?? new LocalBus();
  bus.onMessage((message) => {
    if (message.type === 'policy.changed') return policies.invalidate().catch((err: unknown) => log.warn('policy reload failed; the watch retries', { error: String(err) }));
    else if (message.type === 'cache.purged') l.forget(message.digests);
    else if (message.type === 'trust.refreshed') trust.reload();
    else if (message.type === 'trust.changed') return trustChanges.invalidate().catch((err: unknown) => log.warn('trust reload failed; the watch retries', { error: String(err) }));
  });
  trust.onRefreshed = () => void bus.broadcast({ type: 'trust.refreshed' });
  bus.provide('metrics', () => l.metrics.snapshot());
  // Metrics are scraped from one process and answer for all of them.
  return { bus, scrape: async () => mergeSnapshots(await bus.gather('metrics')) };
}
