/**
 * The operations surface of a server: Prometheus metrics, the admin UI, OpenTelemetry spans
 * for the server API, and request/command/API logging at debug and trace levels. The
 * composition root builds one, lets it wrap the API route and mount its own routes, and
 * starts and closes it with the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AdminHandler, type AdminOptions } from '../admin/index.js';
import type { ApiCallEvent, ApiExecutor } from '../api/index.js';
import type { Node } from '../core/index.js';
import type { CommandEvent, ConnectEvent } from '../core/index.js';
import type { Logger } from '../core/index.js';
import { GraphiteExporter, GyreMetrics, createApiTracer, type ApiTracer, type HttpRequestCounter, type HttpRoutes } from '../metrics/index.js';
import { gyreVersion } from './version.js';

/** The configuration sections this module reads (the loaded config satisfies it). */
export interface OpsConfig {
  admin?: AdminOptions & { enabled?: boolean; external?: boolean };
  prometheus?: {
    enabled?: boolean;
    handler_prefix?: string;
    native_histograms?: boolean;
    instrument_http_handlers?: boolean;
    recovered_publications_histogram?: boolean;
  };
  opentelemetry?: { enabled?: boolean; api?: boolean };
  graphite?: { enabled?: boolean; host?: string; port?: number; prefix?: string; interval?: number; tags?: boolean };
  log?: { level?: string };
}

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;

export class OpsRoutes {
  /** Present when `prometheus.enabled` or `graphite.enabled` (Graphite pushes the same registry). */
  readonly metrics: GyreMetrics | undefined;
  private readonly graphite: GraphiteExporter | undefined;
  /** Present when `admin.enabled`. */
  readonly admin: AdminHandler | undefined;
  private tracer: ApiTracer | undefined;
  /** Counts every HTTP request (`prometheus.instrument_http_handlers`). */
  private readonly httpRequests: HttpRequestCounter | undefined;
  private readonly debug: boolean;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    private readonly node: Node,
    private readonly config: OpsConfig,
    executor: ApiExecutor,
    private readonly logger: Logger,
  ) {
    const level = (config.log?.level ?? 'info').toLowerCase();
    this.debug = level === 'debug' || level === 'trace';
    const graphite = config.graphite;
    if (config.prometheus?.enabled || graphite?.enabled) {
      this.metrics = new GyreMetrics(node, {
        version: gyreVersion,
        nativeHistograms: config.prometheus?.native_histograms,
        recoveredPublicationsHistogram: config.prometheus?.recovered_publications_histogram,
      });
      this.metrics.observeApi(executor);
      if (config.prometheus?.enabled && config.prometheus.instrument_http_handlers) {
        this.httpRequests = this.metrics.httpRequests();
        this.httpRequests.addRoutes({ exact: [this.metricsPath], subtrees: [] });
      }
    }
    if (graphite?.enabled && this.metrics) {
      this.graphite = new GraphiteExporter({
        registry: this.metrics.registry,
        host: graphite.host || 'localhost',
        port: graphite.port || 2003,
        prefix: graphite.prefix ?? 'centrifugo',
        nodeName: node.name,
        intervalMs: graphite.interval ?? 0,
        tags: !!graphite.tags,
        logger,
      });
    }
    if (config.admin?.enabled) {
      this.admin = new AdminHandler(config.admin, executor, node, logger);
      if (config.admin.insecure) logger.warn({}, 'admin endpoints are insecure (admin.insecure): anyone who reaches them controls the server');
    }
    if (this.debug) this.logEvents(executor, level === 'trace');
  }

  /**
   * Adds the metrics and admin routes: metrics on the internal port, admin there unless
   * `admin.external`. `exposition` replaces this process's metrics text (a worker serves the
   * merged metrics of all workers).
   */
  mount(external: Route[], internal: Route[], exposition?: () => Promise<string>): void {
    if (this.metrics && this.config.prometheus?.enabled) internal.push(this.metrics.route(this.metricsPath, exposition));
    if (this.admin) {
      (this.config.admin?.external ? external : internal).push(this.admin.route);
      this.httpRequests?.addRoutes({ exact: [], subtrees: [`${(this.config.admin?.handler_prefix ?? '').replace(/\/+$/, '')}/`] });
    }
  }

  /** Tells the HTTP request counter (when on) the routes the server mounted, to label requests by. */
  httpRoutes(routes: HttpRoutes): void {
    this.httpRequests?.addRoutes(routes);
  }

  private get metricsPath(): string {
    return this.config.prometheus?.handler_prefix || '/metrics';
  }

  /** The API route, inside an OpenTelemetry span per request once tracing has started. */
  traceApi(route: Route, prefix: string): Route {
    if (!this.config.opentelemetry?.enabled || !this.config.opentelemetry.api) return route;
    let traced: Route | undefined;
    return (req, res) => {
      if (this.tracer) traced ??= this.tracer.wrap(route, prefix);
      return (traced ?? route)(req, res);
    };
  }

  /** Starts the Graphite push and loads the OpenTelemetry SDK when tracing is on. */
  async start(): Promise<void> {
    this.graphite?.start();
    const otel = this.config.opentelemetry;
    if (!otel?.enabled || this.tracer) return;
    if (!otel.api) {
      this.logger.warn({}, 'opentelemetry is enabled but no span source is (set opentelemetry.api)');
      return;
    }
    this.tracer = await createApiTracer({ instanceId: this.node.id, version: gyreVersion });
    this.logger.info({ endpoint: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318' }, 'OpenTelemetry API tracing enabled');
  }

  /** Whether every HTTP request must pass through node:http (request log or API tracing is on). */
  get perRequestHooks(): boolean {
    return this.debug || !!this.httpRequests || !!(this.config.opentelemetry?.enabled && this.config.opentelemetry.api);
  }

  /**
   * Counts the request (with `prometheus.instrument_http_handlers`) and logs it at debug level,
   * like Centrifugo: method, path, status, client address, duration.
   */
  observeRequest(req: IncomingMessage, res: ServerResponse): void {
    this.httpRequests?.observe(req, res);
    if (!this.debug) return;
    const started = performance.now();
    res.once('finish', () => {
      this.logger.debug(
        { method: req.method, path: req.url, status: res.statusCode, addr: clientAddr(req), duration: `${(performance.now() - started).toFixed(3)}ms` },
        'http request',
      );
    });
  }

  /** Counts a WebSocket upgrade request: the status it was refused with, or 101 when a transport took it. */
  observeUpgrade(req: IncomingMessage, status: number): void {
    this.httpRequests?.upgrade(req, status);
  }

  /** Ends admin tails (before the HTTP servers close). */
  beginClose(): void {
    this.admin?.close();
  }

  /** Stops the Graphite push, detaches metrics and logging and flushes pending spans. */
  async close(): Promise<void> {
    this.admin?.close();
    await this.graphite?.close();
    this.metrics?.close();
    for (const off of this.unsubscribe.splice(0)) off();
    const tracer = this.tracer;
    this.tracer = undefined;
    await tracer?.close().catch((err: unknown) => this.logger.warn({ err }, 'flushing OpenTelemetry spans failed'));
  }

  private logEvents(executor: ApiExecutor, trace: boolean): void {
    const log = this.logger;
    const onCall = (e: ApiCallEvent): void => log.debug({ protocol: e.protocol, method: e.method, duration: `${e.durationMs.toFixed(3)}ms`, error: e.error }, 'API command');
    executor.events.on('call', onCall);
    this.unsubscribe.push(() => executor.events.off('call', onCall));
    const events = this.node.events;
    const onConnect = (e: ConnectEvent): void => log.debug({ client: e.client, user: e.user, transport: e.transport, name: e.name, version: e.version }, 'client connected');
    events.on('connect', onConnect);
    this.unsubscribe.push(() => events.off('connect', onConnect));
    if (trace) {
      const onCommand = (e: CommandEvent): void => log.trace({ client: e.client, method: e.method, duration: `${e.durationMs.toFixed(3)}ms`, error: e.error }, 'client command');
      events.on('command', onCommand);
      this.unsubscribe.push(() => events.off('command', onCommand));
    }
  }
}

/** X-Real-IP, then the first X-Forwarded-For hop, then the socket's address. */
function clientAddr(req: IncomingMessage): string | undefined {
  const real = req.headers['x-real-ip'];
  if (typeof real === 'string' && real !== '') return real;
  const fwd = req.headers['x-forwarded-for'];
  if (typeof fwd === 'string' && fwd !== '') return fwd.split(',')[0]?.trim();
  return req.socket.remoteAddress;
}
