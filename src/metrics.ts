import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Aggregator } from 'prom-client';

type Labels = Record<string, string>;
type Reading = number | Array<{ labels: Labels; value: number }>;
type Snapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The process's Prometheus metrics, on a registry of its own (a test process holds many apps). Counters and
 * histograms are summed across workers when scraped; gauges of a process's own state carry its `worker`
 * label, gauges of shared state (the store, the policy, the audit chain) are merged into one series.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = this.counter('portcullis_http_requests_total', 'HTTP requests by route and status', ['route', 'method', 'status']);
  readonly decisions = this.counter('portcullis_decisions_total', 'Pull decisions by kind, outcome and rule', ['kind', 'outcome', 'rule']);
  readonly cache = this.counter('portcullis_cache_requests_total', 'Cache lookups by kind and result (hit or miss)', ['kind', 'result']);
  readonly bytesServed = this.counter('portcullis_bytes_served_total', 'Blob and manifest bytes sent to clients', ['kind']);
  readonly bytesFetched = this.counter('portcullis_upstream_bytes_fetched_total', 'Blob bytes fetched from upstreams', ['upstream']);
  readonly upstreamRequests = this.counter('portcullis_upstream_requests_total', 'Upstream requests by upstream, method and status', ['upstream', 'method', 'status']);
  readonly upstreamErrors = this.counter('portcullis_upstream_errors_total', 'Upstream requests that failed to connect or answered 5xx/429', ['upstream']);
  readonly upstreamLatency = this.histogram('portcullis_upstream_request_seconds', 'Upstream response time to headers', ['upstream']);
  readonly notifications = this.counter('portcullis_notification_deliveries_total', 'Webhook delivery attempts by webhook and outcome (delivered, retry, failed, dropped)', ['webhook', 'outcome']);
  readonly notificationSeconds = this.histogram('portcullis_notification_delivery_seconds', 'Time of one webhook delivery attempt', ['webhook']);
  readonly verifySeconds = this.histogram('portcullis_verification_seconds', 'Time to gather and verify evidence for one digest', []);
  private chainGauges: { checked: Gauge; intact: Gauge } | undefined;

  /** `gaugeLabels`: labels every gauge of this process's own state carries (its worker slot). */
  constructor(private readonly gaugeLabels: Labels = {}) {
    collectDefaultMetrics({ register: this.registry, labels: gaugeLabels });
  }

  /**
   * A gauge of this process's own state, read when scraped; it carries the worker label. `labelNames`
   * defaults to those of a first reading (give them when that reading may be empty).
   */
  gauge(name: string, help: string, read: () => Reading, labelNames: readonly string[] = labelsOf(read())): void {
    const own = this.gaugeLabels;
    new Gauge({
      name, help, registers: [this.registry],
      labelNames: [...new Set([...Object.keys(own), ...labelNames])],
      collect() {
        this.reset();
        const value = read();
        if (typeof value === 'number') this.set(own, value);
        else for (const v of value) this.set({ ...v.labels, ...own }, v.value);
      },
    });
  }

  /**
   * A gauge of state every worker shares (read from the database or the store), merged into one series
   * with `aggregator` when workers are scraped together.
   */
  sharedGauge(name: string, help: string, aggregator: Aggregator, read: () => number | Promise<number>, labels: Labels = {}): void {
    new Gauge({
      name, help, aggregator, registers: [this.registry], labelNames: Object.keys(labels),
      async collect() {
        // A reading that fails (the database is down) keeps the last value: the scrape itself must not fail.
        const value = await Promise.resolve().then(read).catch(() => undefined);
        if (value !== undefined) this.set(labels, value);
      },
    });
  }

  /**
   * Records a verification of the whole audit chain. The series appear with the first check: before it,
   * nothing is known. Across workers the newest check time and the lowest result (any broken) are kept.
   */
  chainChecked(intact: boolean, at = Date.now()): void {
    this.chainGauges ??= {
      checked: new Gauge({
        name: 'portcullis_audit_chain_last_check_timestamp_seconds', help: 'When the audit chain was last verified (Unix time)',
        aggregator: 'max', registers: [this.registry],
      }),
      intact: new Gauge({
        name: 'portcullis_audit_chain_intact', help: '1 if the last verification of the audit chain found it intact, 0 if broken',
        aggregator: 'min', registers: [this.registry],
      }),
    };
    this.chainGauges.checked.set(at / 1000);
    this.chainGauges.intact.set(intact ? 1 : 0);
  }

  /** This process's metrics as JSON, for a sibling that answers a scrape for all workers. */
  async snapshot(): Promise<string> {
    return JSON.stringify(await this.registry.getMetricsAsJSON());
  }

  private counter(name: string, help: string, labelNames: string[]): Counter {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram(name: string, help: string, labelNames: string[]): Histogram {
    return new Histogram({ name, help, labelNames, buckets: DEFAULT_BUCKETS, registers: [this.registry] });
  }
}

/**
 * One Prometheus exposition from the snapshots of every worker, merged by prom-client per metric (counters
 * and histograms summed, shared gauges by their own aggregator). Labels are rendered in name order, so a
 * series reads the same whichever worker saw it first.
 */
export async function mergeSnapshots(snapshots: readonly string[]): Promise<string> {
  const parsed = snapshots.map((s) => (JSON.parse(s) as Snapshot).map(sortLabels));
  return AggregatorRegistry.aggregate(parsed).metrics();
}

function sortLabels(metric: Snapshot[number]): Snapshot[number] {
  return {
    ...metric,
    values: metric.values.map((v) => ({
      ...v,
      labels: Object.fromEntries(Object.entries(v.labels).sort(([a], [b]) => labelOrder(a) - labelOrder(b) || (a < b ? -1 : a > b ? 1 : 0))),
    })),
  };
}

/** A histogram's `le` goes last, as Prometheus writes it. */
function labelOrder(name: string): number {
  return name === 'le' ? 1 : 0;
}

function labelsOf(reading: Reading): string[] {
  return typeof reading === 'number' ? [] : [...new Set(reading.flatMap((r) => Object.keys(r.labels)))];
}
