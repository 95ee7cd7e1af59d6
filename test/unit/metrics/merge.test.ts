import { describe, expect, it } from 'vitest';
import { Metrics, mergeSnapshots } from '../../../src/metrics.js';

/** Two workers' metrics merged as a scrape merges them (prom-client's aggregation over JSON snapshots). */
describe('metrics of several workers', () => {
  function worker(slot: number, policyVersion: number, store: () => number) {
    const m = new Metrics({ worker: String(slot) });
    m.requests.inc({ route: 'blob', method: 'GET', status: '200' }, 3 + slot);
    m.upstreamLatency.observe({ upstream: 'ghcr.io' }, 0.02);
    m.gauge('portcullis_blob_downloads_in_flight', 'downloads', () => slot + 1);
    m.sharedGauge('portcullis_policy_active_version', 'version', 'min', () => policyVersion);
    m.sharedGauge('portcullis_store_bytes', 'bytes', 'first', store);
    return m;
  }

  it('sums counters and histograms, keeps each worker\'s own gauges apart and merges shared ones', async () => {
    const text = await mergeSnapshots([await worker(0, 4, () => 100).snapshot(), await worker(1, 5, () => 100).snapshot()]);
    const line = (series: string) => text.split('\n').find((l) => l.startsWith(`${series} `));
    // Labels in name order whatever order the code gave them in.
    expect(line('portcullis_http_requests_total{method="GET",route="blob",status="200"}')).toMatch(/ 7$/);
    expect(line('portcullis_upstream_request_seconds_count{upstream="ghcr.io"}')).toMatch(/ 2$/);
    expect(line('portcullis_upstream_request_seconds_bucket{upstream="ghcr.io",le="0.025"}')).toMatch(/ 2$/);
    expect(line('portcullis_blob_downloads_in_flight{worker="0"}')).toMatch(/ 1$/);
    expect(line('portcullis_blob_downloads_in_flight{worker="1"}')).toMatch(/ 2$/);
    expect(text.match(/^portcullis_policy_active_version .*$/gm)).toEqual(['portcullis_policy_active_version 4']);
    expect(text.match(/^portcullis_store_bytes .*$/gm)).toEqual(['portcullis_store_bytes 100']);
    expect(text).toMatch(/^process_resident_memory_bytes\{worker="1"\} \d+$/m);
  });

  it('still answers a scrape when a shared reading fails (the database is down), keeping the last value', async () => {
    let down = false;
    const m = worker(0, 1, () => {
      if (down) throw new Error('database unavailable');
      return 42;
    });
    expect(await mergeSnapshots([await m.snapshot()])).toMatch(/^portcullis_store_bytes 42$/m);
    down = true;
    const text = await mergeSnapshots([await m.snapshot()]);
    expect(text).toMatch(/^portcullis_store_bytes 42$/m);
    expect(text).toMatch(/^portcullis_http_requests_total\{/m);
  });

  it('reports the audit chain only once it has been checked; the newest check and any broken result win', async () => {
    const a = new Metrics({ worker: '0' });
    const b = new Metrics({ worker: '1' });
    expect(await mergeSnapshots([await a.snapshot(), await b.snapshot()])).not.toMatch(/portcullis_audit_chain/);
    a.chainChecked(true, 1_000_000);
    b.chainChecked(false, 2_000_000);
    const text = await mergeSnapshots([await a.snapshot(), await b.snapshot()]);
    expect(text).toMatch(/^portcullis_audit_chain_intact 0$/m);
    expect(text).toMatch(/^portcullis_audit_chain_last_check_timestamp_seconds 2000$/m);
  });
});
