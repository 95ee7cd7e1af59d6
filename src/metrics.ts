/** A small Prometheus registry: counters and histograms with labels, rendered in text format 0.0.4. */
type Labels = Record<string, string>;

const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const keyCache = new Map<string, string>();

/** The rendered label set; memoised, since the same few label combinations recur on every request. */
function labelKey(labels: Labels): string {
  let id = '';
  for (const k in labels) id += `${k}\u0000${labels[k]}\u0001`;
  let key = keyCache.get(id);
  if (key === undefined) {
    key = renderLabels(labels);
    if (keyCache.size < 10_000) keyCache.set(id, key);
  }
  return key;
}

function renderLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
    .join(',');
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

/**
 * A gauge read when scraped: one value, or one value per label set. `own` labels (the worker) keep each
 * process's reading apart when a scrape merges several processes: a gauge is a state, not a sum.
 */
class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | Array<{ labels: Labels; value: number }>,
    private readonly own: Labels = {},
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const value = this.read();
    const series = typeof value === 'number' ? [{ labels: {}, value }] : value;
    for (const v of series) {
      const labels = renderLabels({ ...v.labels, ...this.own });
      lines.push(`${this.name}${labels ? `{${labels}}` : ''} ${v.value}`);
    }
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, private readonly buckets = DEFAULT_BUCKETS) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const sep = k ? `${k},` : '';
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly requests = new Counter('portcullis_http_requests_total', 'HTTP requests by route and status');
  readonly decisions = new Counter('portcullis_decisions_total', 'Pull decisions by kind, outcome and rule');
  readonly cache = new Counter('portcullis_cache_requests_total', 'Cache lookups by kind and result (hit or miss)');
  readonly bytesServed = new Counter('portcullis_bytes_served_total', 'Blob and manifest bytes sent to clients');
  readonly bytesFetched = new Counter('portcullis_upstream_bytes_fetched_total', 'Blob bytes fetched from upstreams');
  readonly upstreamRequests = new Counter('portcullis_upstream_requests_total', 'Upstream requests by upstream, method and status');
  readonly upstreamErrors = new Counter('portcullis_upstream_errors_total', 'Upstream requests that failed to connect or answered 5xx/429');
  readonly upstreamLatency = new Histogram('portcullis_upstream_request_seconds', 'Upstream response time to headers');
  readonly verifySeconds = new Histogram('portcullis_verification_seconds', 'Time to gather and verify evidence for one digest');
  private readonly gauges: Gauge[] = [];

  /** `gaugeLabels`: labels every gauge of this process carries (its worker slot). */
  constructor(private readonly gaugeLabels: Labels = {}) {}

  gauge(name: string, help: string, read: () => number | Array<{ labels: Labels; value: number }>): void {
    this.gauges.push(new Gauge(name, help, read, this.gaugeLabels));
  }

  render(): string {
    const parts = [
      this.requests, this.decisions, this.cache, this.bytesServed, this.bytesFetched, this.upstreamRequests,
      this.upstreamErrors, this.upstreamLatency, this.verifySeconds, ...this.gauges,
    ].map((m) => m.render());
    return `${parts.join('\n')}\n`;
  }
}

/**
 * One exposition from several processes' texts: samples with the same name and labels are added
 * (counters and histogram buckets, sums and counts are totals across workers); gauges carry a `worker`
 * label, so theirs stay apart. HELP and TYPE lines are kept once, in the order first seen.
 */
export function mergeExpositions(texts: readonly string[]): string {
  if (texts.length === 1) return texts[0]!;
  const order: string[] = [];
  const values = new Map<string, number>();
  const comments = new Set<string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (!line) continue;
      if (line.startsWith('#')) {
        if (!comments.has(line)) {
          comments.add(line);
          order.push(line);
        }
        continue;
      }
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      if (!values.has(key)) order.push(key);
      values.set(key, (values.get(key) ?? 0) + value);
    }
  }
  return `${order.map((k) => (k.startsWith('#') ? k : `${k} ${values.get(k)}`)).join('\n')}\n`;
}
