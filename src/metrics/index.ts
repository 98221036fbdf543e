/** Observability: Prometheus metrics fed by core and API events, and OpenTelemetry API spans. */
export { GyreMetrics, type MetricsOptions, type PubSubErrorSource } from './prometheus.js';
export type { HttpRequestCounter, HttpRoutes } from './http-requests.js';
export { createApiTracer, type ApiTracer, type ApiTracerOptions } from './tracing.js';
export { GraphiteExporter, type GraphiteOptions } from './graphite.js';
