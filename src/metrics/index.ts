/** Observability: Prometheus metrics fed by core and API events, and OpenTelemetry API spans. */
export { GyreMetrics, type MetricsOptions, type PubSubErrorSource } from './prometheus.js';
export type { HttpRequestCounter, HttpRoutes } from './http-requests.js';
export { createApiTracer, type ApiTracer, type ApiTracerOptions } from './tracing.js';
export { GraphiteExporter, type GraphiteOptions } from './graphite.js';
export {
  CLUSTER_METRICS_CONTENT_TYPE,
  aggregateWorkerMetrics,
  isMetricFamilyJson,
  type MetricFamilyJson,
  type WorkerMetrics,
} from './cluster-metrics.js';
