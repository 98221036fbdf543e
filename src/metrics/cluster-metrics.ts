/**
 * Metrics of several worker processes as one exposition, for `gyre --workers N`: each worker
 * hands over its registry as JSON (`registry.getMetricsAsJSON()`), the supervisor merges them
 * with prom-client's AggregatorRegistry. Each metric is merged by its own aggregator:
 * counters, histograms and most gauges are summed (clients, subscriptions, inflight requests),
 * a few gauges take the maximum (`centrifugo_node_num_nodes`, `centrifugo_node_build`), and
 * prom-client's process metrics carry their own rules (event loop lag averaged, start time
 * omitted). Summary quantiles cannot be added up, so each worker's summary stays a series
 * of its own, labelled `worker`.
 */
import { AggregatorRegistry, Registry } from 'prom-client';

/** One metric family as `getMetricsAsJSON()` gives it (plain data, as it crosses IPC). */
export interface MetricFamilyJson {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** The registry of one worker process, tagged with the worker's index. */
export interface WorkerMetrics {
  worker: number;
  metrics: MetricFamilyJson[];
}

/** Content type of the merged exposition (Prometheus text format 0.0.4, as a single process serves). */
export const CLUSTER_METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Whether `v` has the shape of one metric family of `getMetricsAsJSON()` (checked at the IPC boundary). */
export function isMetricFamilyJson(v: unknown): v is MetricFamilyJson {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as Record<string, unknown>;
  return typeof m.name === 'string' && typeof m.help === 'string' && typeof m.type === 'string' && Array.isArray(m.values);
}

/** Merges the workers' registries into one Prometheus text exposition. */
export async function aggregateWorkerMetrics(perWorker: readonly WorkerMetrics[]): Promise<string> {
  const families = perWorker.map(({ worker, metrics }) =>
    metrics.map((m) => (m.type === 'summary' ? { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker: String(worker) } })) } : m)),
  );
  return AggregatorRegistry.aggregate(families).metrics();
}
