/**
 * OpenTelemetry spans for server API requests (server.md §7.7): one SERVER span per request,
 * child of the caller's W3C `traceparent` when present, exported in batches over OTLP/HTTP.
 * Endpoint, headers and timeouts come from the standard OTEL_EXPORTER_OTLP_* variables;
 * the service name from OTEL_SERVICE_NAME (default `centrifugo`). The SDK is loaded only
 * when tracing is on, and nothing is registered globally.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ApiTracerOptions {
  /** service.instance.id (the node id). */
  instanceId: string;
  /** Gyre's version (service.version). */
  version: string;
}

/** Wraps API routes in spans; close() flushes what is pending and stops the exporter. */
export interface ApiTracer {
  /** A route that runs `route` inside a span for requests under `prefix` (the API's base path). */
  wrap(route: Route, prefix: string): Route;
  close(): Promise<void>;
}

/** Loads the OpenTelemetry SDK and builds the tracer. */
export async function createApiTracer(opts: ApiTracerOptions): Promise<ApiTracer> {
  const [otel, sdk, exporterMod, resources, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const provider = new sdk.NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      'service.name': process.env.OTEL_SERVICE_NAME || 'centrifugo',
      'service.instance.id': opts.instanceId,
      'service.version': opts.version,
    }),
    spanProcessors: [new sdk.BatchSpanProcessor(new exporterMod.OTLPTraceExporter())],
  });
  const tracer = provider.getTracer('gyre', opts.version);
  const propagator = new core.W3CTraceContextPropagator();

  return {
    wrap(route, prefix) {
      const base = prefix.replace(/\/+$/, '');
      return (req, res) => {
        const path = pathOf(req);
        const legacy = path === (base === '' ? '/' : base);
        if (!legacy && !path.startsWith(base + '/')) return route(req, res);
        const parent = propagator.extract(otel.ROOT_CONTEXT, req.headers, otel.defaultTextMapGetter);
        const method = req.method ?? 'GET';
        const span = tracer.startSpan(
          `${method} ${path}`,
          {
            kind: otel.SpanKind.SERVER,
            attributes: { 'http.request.method': method, 'url.path': path, 'centrifugo.api.method': legacy ? 'legacy' : path.slice(base.length + 1) },
          },
          parent,
        );
        res.once('close', () => {
          span.setAttribute('http.response.status_code', res.statusCode);
          if (res.statusCode >= 500) span.setStatus({ code: otel.SpanStatusCode.ERROR });
          span.end();
        });
        return route(req, res);
      };
    },
    async close() {
      await provider.shutdown();
    },
  };
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
