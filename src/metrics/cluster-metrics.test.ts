// Merging the registries of `gyre --workers` processes: real GyreMetrics of two nodes, plus
// one metric of each kind registered beside them, go through the same JSON the workers send
// over IPC and come out as one exposition.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Summary } from 'prom-client';
import { MemoryBroker, MemoryPresenceManager } from '../brokers/memory/index.js';
import { Node } from '../core/index.js';
import { aggregateWorkerMetrics, GyreMetrics, type MetricFamilyJson } from './index.js';

/** One worker's metrics after `clients` connections and API-like observations. */
async function workerRegistry(node: Node, clients: number): Promise<{ metrics: GyreMetrics; json: MetricFamilyJson[] }> {
  const metrics = new GyreMetrics(node, { version: '9.9.9', defaultMetrics: true });
  const r = metrics.registry;
  new Counter({ name: 'test_accepted', help: 'h', labelNames: ['transport'], registers: [r] }).inc({ transport: 'websocket' }, clients);
  new Gauge({ name: 'test_inflight', help: 'h', registers: [r] }).set(clients);
  new Summary({ name: 'test_duration_seconds', help: 'h', percentiles: [0.5], registers: [r] }).observe(clients / 10);
  new Histogram({ name: 'test_lag_seconds', help: 'h', buckets: [1], registers: [r] }).observe(clients);
  // Over IPC, as the worker sends it.
  return { metrics, json: JSON.parse(JSON.stringify(await metrics.json())) as MetricFamilyJson[] };
}

/** Value of the sample line `series` (name plus labels as printed) in an exposition. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('merged worker metrics', () => {
  const nodes = [1, 2].map(
    (i) => new Node({ name: `n-w${i}` }, { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager() }),
  );
  after(async () => {
    for (const n of nodes) await n.shutdown();
  });

  it('sums counters, gauges and histograms, keeps the node count and build, labels summaries per worker', async () => {
    for (const n of nodes) await n.start();
    const [a, b] = [await workerRegistry(nodes[0] as Node, 3), await workerRegistry(nodes[1] as Node, 4)];
    const text = await aggregateWorkerMetrics([
      { worker: 1, metrics: a.json },
      { worker: 2, metrics: b.json },
    ]);
    assert.equal(sample(text, 'test_accepted{transport="websocket"}'), 7);
    assert.equal(sample(text, 'test_inflight'), 7);
    assert.equal(sample(text, 'test_lag_seconds_count'), 2);
    assert.equal(sample(text, 'test_lag_seconds_bucket{le="1"}'), 0);
    assert.equal(sample(text, 'test_lag_seconds_bucket{le="+Inf"}'), 2);
    // Quantiles cannot be added: each worker's summary is its own series.
    assert.equal(sample(text, 'test_duration_seconds{quantile="0.5",worker="1"}'), 0.3);
    assert.equal(sample(text, 'test_duration_seconds{quantile="0.5",worker="2"}'), 0.4);
    assert.equal(sample(text, 'test_duration_seconds_count{worker="2"}'), 1);
    // Every worker reports the same cluster and build: the maximum, not the sum.
    assert.equal(sample(text, 'centrifugo_node_num_nodes'), 1);
    assert.equal(sample(text, 'centrifugo_node_build{version="9.9.9"}'), 1);
    assert.equal(sample(text, 'centrifugo_node_num_clients'), 0);
    // prom-client's own process metrics keep their rules (the start time is left out).
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(text, /^process_start_time_seconds/m);
    a.metrics.close();
    b.metrics.close();
  });
});
