import type { Config } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { UpstreamClient } from '../upstream/upstream-client.js';

/** One client per configured upstream, by name, each reporting its requests to the metrics. */
export function upstreamClients(config: Config, log: Logger, metrics: Metrics): Map<string, UpstreamClient> {
  return new Map(
    config.upstreams.map((u) => [
      u.name,
      new UpstreamClient(u, log.child({ upstream: u.name }), {
        onRequest(name, method, status, seconds) {
          metrics.upstreamRequests.inc({ upstream: name, method, status: String(status) });
          metrics.upstreamLatency.observe({ upstream: name }, seconds);
          if (status === 'error' || status === 429 || (typeof status === 'number' && status >= 500)) {
            metrics.upstreamErrors.inc({ upstream: name });
          }
        },
      }),
    ]),
  );
}
