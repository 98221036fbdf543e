/**
 * Prometheus metrics with Centrifugo's names and labels (server.md §7.2, namespace
 * `centrifugo`). Everything comes from the node's events, its hub counters and its traffic
 * counters, and from the API executor's call events: core never sees prom-client.
 * `channel_namespace` is always "" (namespace labels are a Centrifugo PRO feature).
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, Summary, collectDefaultMetrics, type CounterConfiguration } from 'prom-client';
import type { ApiCallEvent, ApiExecutor } from '../api/index.js';
import type { Node } from '../core/index.js';
import type { CommandEvent, ConnectEvent, DisconnectEvent, PingPongEvent, ProxyEvent, ProxyEventsDroppedEvent, PublicationEvent, SubscribeEvent, SurveyEvent, UnsubscribeEvent } from '../core/index.js';
import type { BrokerMessageType } from '../core/index.js';
import { ClientLabels } from './client-labels.js';
import { HttpRequestCounter } from './http-requests.js';
import type { MetricFamilyJson } from './cluster-metrics.js';
import { PROTOBUF_CONTENT_TYPE, acceptsProtobuf, encodeRegistry } from './exposition.js';
import { NativeHistogramVec } from './native-histogram-vec.js';

const NS = 'centrifugo';
/** Go client_golang's summary objectives 0.5, 0.99, 0.999 over a 10-minute window. */
const SUMMARY = { percentiles: [0.5, 0.99, 0.999], maxAgeSeconds: 600, ageBuckets: 5 };
const FINE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BROADCAST_BUCKETS = [0.000001, 0.000005, 0.00001, 0.00005, ...FINE_BUCKETS];
/** Publish → local delivery lag buckets (seconds), as Centrifugo's. */
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
/** client_golang's DefBuckets. */
const DEF_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Survey duration buckets (seconds), as Centrifugo's. */
const SURVEY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Recovered publication count buckets, as Centrifugo's. */
const RECOVERED_BUCKETS = [0, 1, 2, 3, 5, 10, 20, 50, 100, 250, 500, 1000, 2000, 5000, 10000];
const BROKER_TYPES: BrokerMessageType[] = ['publication', 'join', 'leave', 'control'];
/** Centrifugo's native histogram settings: bucket factor 1.1 (schema 3), at most 200 buckets, resets at most hourly. */
const NATIVE = { bucketFactor: 1.1, maxBuckets: 200, minResetMs: 3_600_000 };
/** Client transports are HTTP/1.1 (h1), except uni_grpc which is always HTTP/2 (h2). */
const acceptProtocol = (transport: string): string => (transport === 'uni_grpc' ? 'h2' : 'h1');

export interface MetricsOptions {
  /** Version for centrifugo_node_build. */
  version: string;
  /**
   * Histograms become native (sparse, exponential) histograms without classic buckets, the
   * deprecated summaries go, and a scrape asking for the protobuf format gets it.
   */
  nativeHistograms?: boolean;
  /** Node.js process metrics (process_*, nodejs_*); default true. */
  defaultMetrics?: boolean;
  /** centrifugo_client_recovered_publications (`prometheus.recovered_publications_histogram`). */
  recoveredPublicationsHistogram?: boolean;
}

/** PUB/SUB failure counters of a Redis broker or map broker, by Centrifugo's `error` label value. */
export type PubSubErrorSource = Readonly<Record<string, number>>;

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;
type Observer<T extends string> = { observe(labels: Partial<Record<T, string>>, value: number): void };
interface HistogramConfig<T extends string> {
  name: string;
  help: string;
  labelNames: readonly T[];
  /** Classic buckets (when native histograms are off). */
  buckets: number[];
}
type Listener = [target: EventEmitter, event: string, fn: (...args: any[]) => void];

/** One node's Prometheus registry, fed by its events. close() detaches the listeners. */
export class GyreMetrics {
  readonly registry = new Registry();
  private readonly listeners: Listener[] = [];
  private readonly lastSeen = new Map<string, number>();
  private http: HttpRequestCounter | undefined;
  private readonly native: boolean;

  constructor(
    private readonly node: Node,
    opts: MetricsOptions,
  ) {
    const r = this.registry;
    this.native = !!opts.nativeHistograms;
    const summaries = !this.native;
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r });

    this.nodeGauges(opts.version);
    this.brokerCounters();
    this.transportCounters();
    this.consumerCounters();
    this.deliveryMetrics();
    this.nodeActions(summaries);

    // Connections and subscriptions.
    const connLabels = ['transport', 'accept_protocol', 'client_name', 'client_version'] as const;
    const accepted = new Counter({ name: `${NS}_client_connections_accepted`, help: 'Count of accepted transports.', labelNames: connLabels, registers: [r] });
    const inflight = new Gauge({ name: `${NS}_client_connections_inflight`, help: 'Number of inflight client connections.', labelNames: connLabels, registers: [r] });
    const subLabels = ['client_name', 'channel_namespace'] as const;
    const subsAccepted = new Counter({ name: `${NS}_client_subscriptions_accepted`, help: 'Count of accepted client subscriptions.', labelNames: subLabels, registers: [r] });
    const subsInflight = new Gauge({ name: `${NS}_client_subscriptions_inflight`, help: 'Number of inflight client subscriptions.', labelNames: subLabels, registers: [r] });
    const serverDisconnects = new Counter({ name: `${NS}_client_num_server_disconnects`, help: 'Number of server initiated disconnects.', labelNames: ['code'], registers: [r] });
    const serverUnsubscribes = new Counter({
      name: `${NS}_client_num_server_unsubscribes`,
      help: 'Number of server initiated unsubscribes.',
      labelNames: ['code', 'channel_namespace'],
      registers: [r],
    });
    const recover = new Counter({
      name: `${NS}_client_recover`,
      help: 'Count of recover operations with success/fail resolution.',
      labelNames: ['recovered', 'channel_namespace', 'has_recovered_publications'],
      registers: [r],
    });
    const recoveredPubs = opts.recoveredPublicationsHistogram
      ? new Histogram({
          name: `${NS}_client_recovered_publications`,
          help: 'Number of publications recovered during subscription recovery.',
          labelNames: ['channel_namespace'],
          buckets: RECOVERED_BUCKETS,
          registers: [r],
        })
      : undefined;
    // Client names and versions are client-chosen: bounded, so a flood of made-up names cannot grow the registry.
    const clientLabels = new ClientLabels();
    const connLabelValues = (e: ConnectEvent | DisconnectEvent) => ({
      transport: e.transport,
      accept_protocol: acceptProtocol(e.transport),
      client_name: clientLabels.name(e.name),
      client_version: clientLabels.version(e.name, e.version),
    });
    this.on(node.events, 'connect', (e: ConnectEvent) => {
      accepted.inc(connLabelValues(e));
      inflight.inc(connLabelValues(e));
    });
    this.on(node.events, 'disconnect', (e: DisconnectEvent) => {
      if (e.announced) inflight.dec(connLabelValues(e));
      if (e.code !== 3000) serverDisconnects.inc({ code: String(e.code) });
    });
    this.on(node.events, 'subscribe', (e: SubscribeEvent) => {
      subsAccepted.inc({ client_name: clientLabels.name(e.clientName), channel_namespace: '' });
      subsInflight.inc({ client_name: clientLabels.name(e.clientName), channel_namespace: '' });
      if (e.recover) {
        recover.inc({ recovered: e.recover.recovered ? 'yes' : 'no', channel_namespace: '', has_recovered_publications: e.recover.hasPublications ? 'yes' : 'no' });
        if (e.recover.recovered) recoveredPubs?.observe({ channel_namespace: '' }, e.recover.publications);
      }
    });
    this.on(node.events, 'unsubscribe', (e: UnsubscribeEvent) => {
      if (e.announced) subsInflight.dec({ client_name: clientLabels.name(e.clientName), channel_namespace: '' });
      if (e.serverCode !== undefined) serverUnsubscribes.inc({ code: String(e.serverCode), channel_namespace: '' });
    });

    // Client commands.
    const cmdLabels = ['method', 'channel_namespace'] as const;
    const cmdSummary = summaries
      ? new Summary({ name: `${NS}_client_command_duration_seconds`, help: 'Client command duration summary.', labelNames: cmdLabels, registers: [r], ...SUMMARY })
      : undefined;
    const cmdHistogram = this.histogram({
      name: `${NS}_client_command_duration_seconds_histogram`,
      help: 'Client command duration histogram.',
      labelNames: cmdLabels,
      buckets: FINE_BUCKETS,
    });
    const replyErrors = new Counter({
      name: `${NS}_client_num_reply_errors`,
      help: 'Number of errors in replies sent to clients.',
      labelNames: ['method', 'code', 'channel_namespace'],
      registers: [r],
    });
    this.on(node.events, 'command', (e: CommandEvent) => {
      const labels = { method: e.method, channel_namespace: '' };
      cmdSummary?.observe(labels, e.durationMs / 1000);
      cmdHistogram.observe(labels, e.durationMs / 1000);
      if (e.error !== undefined) replyErrors.inc({ method: e.method, code: String(e.error), channel_namespace: '' });
    });

    // Calls to the application backend (proxies), with Centrifugo's names.
    const proxyLabels = ['protocol', 'type', 'name'] as const;
    const proxySummary = summaries
      ? new Summary({ name: `${NS}_proxy_duration_seconds`, help: 'Duration of proxy calls.', labelNames: proxyLabels, registers: [r], ...SUMMARY })
      : undefined;
    const proxyHistogram = this.histogram({
      name: `${NS}_proxy_duration_seconds_histogram`,
      help: 'Histogram of duration of proxy calls.',
      labelNames: proxyLabels,
      buckets: DEF_BUCKETS,
    });
    const proxyErrors = new Counter({ name: `${NS}_proxy_errors`, help: 'Number of failed proxy calls.', labelNames: proxyLabels, registers: [r] });
    const proxyInflight = new Gauge({ name: `${NS}_proxy_inflight_requests`, help: 'Proxy calls in flight.', labelNames: proxyLabels, registers: [r] });
    const eventsDropped = new Counter({
      name: `${NS}_proxy_events_dropped_total`,
      help: 'Lifecycle notifications (disconnect, unsubscribe, channel state) dropped: queue full or not delivered by shutdown.',
      labelNames: ['type', 'name'],
      registers: [r],
    });
    this.on(node.events, 'proxy_events_dropped', (e: ProxyEventsDroppedEvent) => eventsDropped.inc({ type: e.type, name: e.name }, e.count));
    this.on(node.events, 'proxy_start', (e: ProxyEvent) => {
      proxyInflight.inc({ protocol: e.protocol, type: e.type, name: e.name });
    });
    this.on(node.events, 'proxy', (e: ProxyEvent) => {
      const labels = { protocol: e.protocol, type: e.type, name: e.name };
      proxyInflight.dec(labels);
      proxySummary?.observe(labels, (e.durationMs ?? 0) / 1000);
      proxyHistogram.observe(labels, (e.durationMs ?? 0) / 1000);
      if (e.failed) proxyErrors.inc(labels);
    });

    const broadcast = this.histogram({
      name: `${NS}_node_broadcast_duration_seconds`,
      help: 'Broadcast duration in seconds',
      labelNames: ['type', 'channel_namespace'],
      buckets: BROADCAST_BUCKETS,
    });
    this.on(node.events, 'publication', (e: PublicationEvent) => broadcast.observe({ type: 'publication', channel_namespace: '' }, e.broadcastMs / 1000));
  }

  /** Counts server API calls of this executor (duration summary and histogram, errors). */
  observeApi(executor: ApiExecutor): void {
    const r = this.registry;
    const labels = ['protocol', 'method'] as const;
    const name = `${NS}_api_command_duration_seconds`;
    const summary = this.native
      ? undefined
      : ((r.getSingleMetric(name) as Summary<'protocol' | 'method'> | undefined) ??
        new Summary({ name, help: 'Duration of API per command.', labelNames: labels, registers: [r], ...SUMMARY }));
    const histogram =
      (r.getSingleMetric(`${name}_histogram`) as Observer<'protocol' | 'method'> | undefined) ??
      this.histogram({ name: `${name}_histogram`, help: 'Histogram of duration of API per command.', labelNames: labels, buckets: DEF_BUCKETS });
    const errors =
      (r.getSingleMetric(`${NS}_api_command_errors_total`) as Counter<'protocol' | 'method' | 'error'> | undefined) ??
      new Counter({ name: `${NS}_api_command_errors_total`, help: 'Total errors in API commands.', labelNames: ['protocol', 'method', 'error'], registers: [r] });
    this.on(executor.events, 'call', (e: ApiCallEvent) => {
      const l = { protocol: e.protocol, method: e.method };
      summary?.observe(l, e.durationMs / 1000);
      histogram.observe(l, e.durationMs / 1000);
      if (e.error !== undefined) errors.inc({ ...l, error: String(e.error) });
    });
  }

  /**
   * Counts the PUB/SUB failures of a Redis broker (`subsystem` broker) or Redis map broker
   * (`map_broker`) as `centrifugo_<subsystem>_redis_pub_sub_errors{broker_name,error}`, sampled
   * at scrape time. `broker_name` is "" as for Centrifugo's configured brokers.
   */
  observeRedisPubSub(subsystem: 'broker' | 'map_broker', errors: PubSubErrorSource): void {
    const c: Counter<'broker_name' | 'error'> = this.sampledCounter({
      name: `${NS}_${subsystem}_redis_pub_sub_errors`,
      help: 'Number of times there was an error in Redis PUB/SUB connection.',
      labelNames: ['broker_name', 'error'],
      collect: () => {
        for (const [error, n] of Object.entries(errors)) if (n > 0) this.catchUp(c, `${subsystem}/pubsub/${error}`, { broker_name: '', error }, n);
      },
    });
  }

  /**
   * The HTTP request counter (`prometheus.instrument_http_handlers`), made on first call; the
   * server feeds it every request and upgrade and tells it the routes to label them by.
   */
  httpRequests(): HttpRequestCounter {
    this.http ??= new HttpRequestCounter(this.registry);
    return this.http;
  }

  /** The registry as plain data (`getMetricsAsJSON()`), as a worker process hands it to its supervisor. */
  async json(): Promise<MetricFamilyJson[]> {
    return (await this.registry.getMetricsAsJSON()) as unknown as MetricFamilyJson[];
  }

  /** The exposition text, as served at the metrics endpoint. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The protobuf exposition: every family as a length-delimited io.prometheus.client.MetricFamily. */
  protobuf(): Promise<Buffer> {
    return encodeRegistry(this.registry);
  }

  /**
   * A route answering GET/HEAD at `path` with the exposition text: this registry's, or what
   * `exposition` gives (the merged metrics of every worker process); a rejection answers 500.
   * With native histograms on and an Accept header preferring it, a single process answers in
   * the protobuf format (merged worker metrics are text only).
   */
  route(path: string, exposition?: () => Promise<string>): Route {
    return (req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      if ((q < 0 ? url : url.slice(0, q)) !== path) return false;
      const proto = !exposition && this.native && acceptsProtobuf(req.headers.accept);
      (proto ? this.protobuf() : exposition ? exposition() : this.text()).then(
        (body) => {
          const type = proto ? PROTOBUF_CONTENT_TYPE : this.registry.contentType;
          res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`error gathering metrics: ${String(err)}\n`);
        },
      );
      return true;
    };
  }

  /** Detaches every listener; the registry keeps its last values. */
  close(): void {
    for (const [target, event, fn] of this.listeners.splice(0)) target.off(event, fn);
  }

  private on<E>(target: EventEmitter, event: string, fn: (e: E) => void): void {
    target.on(event, fn);
    this.listeners.push([target, event, fn as (...args: any[]) => void]);
  }

  /** Gauges sampled from the hub at scrape time, the node count and the build gauge. */
  private nodeGauges(version: string): void {
    const r = this.registry;
    const hub = this.node.hub;
    const sampled = (name: string, help: string, read: () => number): void => {
      const g: Gauge = new Gauge({ name: `${NS}_node_${name}`, help, registers: [r], collect: () => g.set(read()) });
    };
    sampled('num_clients', 'Number of clients connected.', () => hub.numClients);
    sampled('num_users', 'Number of unique users connected.', () => hub.numUsers);
    sampled('num_subscriptions', 'Number of subscriptions.', () => hub.numSubscriptions);
    sampled('num_channels', 'Number of channels with one or more subscribers.', () => hub.numChannels);
    // Every worker of `gyre --workers` sees the same nodes and build: merged, they take the maximum.
    const nodes: Gauge = new Gauge({
      name: `${NS}_node_num_nodes`,
      help: 'Number of nodes in the cluster.',
      registers: [r],
      aggregator: 'max',
      collect: async () => nodes.set((await this.node.info()).nodes.length),
    });
    new Gauge({ name: `${NS}_node_build`, help: 'Node build info.', labelNames: ['version'], registers: [r], aggregator: 'max' }).set({ version }, 1);
  }

  /** Node ↔ broker message counters, sampled from the node's traffic counters. */
  private brokerCounters(): void {
    const traffic = this.node.traffic;
    for (const [dir, help, values] of [
      ['sent', 'Number of messages sent by node to broker.', traffic.brokerSent],
      ['received', 'Number of messages received from broker.', traffic.brokerReceived],
    ] as const) {
      const c: Counter<'type' | 'channel_namespace'> = this.sampledCounter({
        name: `${NS}_node_messages_${dir}_count`,
        help,
        labelNames: ['type', 'channel_namespace'],
        collect: () => {
          for (const type of BROKER_TYPES) this.catchUp(c, `${dir}/${type}`, { type, channel_namespace: '' }, values[type]);
        },
      });
    }
  }

  /** Per async consumer: messages handled and failures, sampled from the consumers' own counters. */
  private consumerCounters(): void {
    // The first counter's collect samples both (it is collected before the second).
    const processed: Counter<'consumer_name'> = this.sampledCounter({
      name: `${NS}_consumers_messages_processed_total`,
      help: 'Total number of processed messages by consumers.',
      labelNames: ['consumer_name'],
      collect: () => {
        for (const c of this.node.consumers()) {
          this.catchUp(processed, `consumer/processed/${c.name}`, { consumer_name: c.name }, c.processed);
          this.catchUp(errors, `consumer/errors/${c.name}`, { consumer_name: c.name }, c.errors);
        }
      },
    });
    const errors = this.sampledCounter({ name: `${NS}_consumers_errors_total`, help: 'Total number of errors in consumers.', labelNames: ['consumer_name'] });
  }

  /**
   * Connection-level and delivery series: transports accepted, connections refused by
   * `client.connection_limit` (under both of Centrifugo's names), server-initiated closes by
   * transport, ping-pong round trips, publish-to-delivery lag and tags-filter drops.
   */
  private deliveryMetrics(): void {
    const { traffic, hub } = this.node;
    const connects: Counter<'transport'> = this.sampledCounter({
      name: `${NS}_transport_connect_count`,
      help: 'Number of connections accepted over specific transport.',
      labelNames: ['transport'],
      collect: () => {
        for (const [transport, n] of traffic.transportConnects) this.catchUp(connects, `connect/${transport}`, { transport }, n);
      },
    });
    for (const [name, help] of [
      [`${NS}_node_client_connection_limit`, 'Number of refused requests due to node client connection limit.'],
      [`${NS}_client_connection_limit_reached_total`, 'Number of refused connections due to the node client connection limit.'],
    ] as const) {
      const c: Counter = this.sampledCounter({ name, help, collect: () => this.catchUp(c, name, {}, traffic.connectionLimitRefusals) });
    }
    const dropped: Counter<'channel_namespace'> = this.sampledCounter({
      name: `${NS}_node_tags_filter_dropped_publications`,
      help: 'Number of publications not sent to subscribers because their tags filter rejected them.',
      labelNames: ['channel_namespace'],
      collect: () => this.catchUp(dropped, 'tags_filter_dropped', { channel_namespace: '' }, hub.filterDropped),
    });
    const closes = this.sampledCounter({ name: `${NS}_transport_outgoing_close_count`, help: 'Number of server-initiated connection closes.', labelNames: ['transport', 'code'] });
    this.on(this.node.events, 'disconnect', (e: DisconnectEvent) => {
      if (e.code !== 3000) closes.inc({ transport: e.transport, code: String(e.code) });
    });
    const pingPong = this.histogram({
      name: `${NS}_client_ping_pong_duration_seconds`,
      help: 'Ping/Pong duration in seconds',
      labelNames: ['transport'],
      buckets: FINE_BUCKETS,
    });
    this.on(this.node.events, 'ping_pong', (e: PingPongEvent) => pingPong.observe({ transport: e.transport }, e.durationMs / 1000));
    const lag = this.histogram({ name: `${NS}_node_pub_sub_lag_seconds`, help: 'Pub sub lag in seconds', labelNames: ['channel_namespace'], buckets: LAG_BUCKETS });
    this.on(this.node.events, 'publication', (e: PublicationEvent) => {
      if (e.pub.time > 0) lag.observe({ channel_namespace: '' }, Math.max(0, this.node.clock.now() - e.pub.time) / 1000);
    });
  }

  /**
   * Node operations by action and broker-suppressed publishes by reason (sampled from the
   * traffic counters; a series appears with its first operation), and survey durations by op.
   */
  private nodeActions(summaries: boolean): void {
    const traffic = this.node.traffic;
    const actions: Counter<'action' | 'channel_namespace'> = this.sampledCounter({
      name: `${NS}_node_action_count`,
      help: 'Number of various actions called.',
      labelNames: ['action', 'channel_namespace'],
      collect: () => {
        for (const [action, n] of Object.entries(traffic.actions)) if (n > 0) this.catchUp(actions, `action/${action}`, { action, channel_namespace: '' }, n);
      },
    });
    const suppressed: Counter<'reason' | 'channel_namespace'> = this.sampledCounter({
      name: `${NS}_broker_publish_suppressed_count`,
      help: 'Number of suppressed publish operations.',
      labelNames: ['reason', 'channel_namespace'],
      collect: () => {
        for (const [reason, n] of Object.entries(traffic.publishSuppressed)) if (n > 0) this.catchUp(suppressed, `suppressed/${reason}`, { reason, channel_namespace: '' }, n);
      },
    });
    const r = this.registry;
    const surveySummary = summaries
      ? new Summary({
          name: `${NS}_node_survey_duration_seconds`,
          help: 'DEPRECATED — use survey_duration_seconds_histogram. Will be removed in future releases. Survey duration summary.',
          labelNames: ['op'],
          registers: [r],
          ...SUMMARY,
        })
      : undefined;
    const surveyHistogram = new Histogram({
      name: `${NS}_node_survey_duration_seconds_histogram`,
      help: 'Survey duration histogram. Use for histogram_quantile() and OpenTelemetry export.',
      labelNames: ['op'],
      buckets: SURVEY_BUCKETS,
      registers: [r],
    });
    this.on(this.node.events, 'survey', (e: SurveyEvent) => {
      surveySummary?.observe({ op: e.op }, e.durationMs / 1000);
      surveyHistogram.observe({ op: e.op }, e.durationMs / 1000);
    });
  }

  /** Transport message counts and sizes by frame type, sampled from the traffic counters. */
  private transportCounters(): void {
    const traffic = this.node.traffic;
    const labelNames = ['transport', 'frame_type', 'channel_namespace'] as const;
    const what = 'client connections over specific transport';
    // The first counter's collect samples every cell once per scrape and feeds all four.
    const sent = this.sampledCounter({ name: `${NS}_transport_messages_sent`, help: `Number of messages sent to ${what}.`, labelNames, collect: () => sample() });
    const sentSize = this.sampledCounter({ name: `${NS}_transport_messages_sent_size`, help: `Size in bytes of messages sent to ${what}.`, labelNames });
    const received = this.sampledCounter({ name: `${NS}_transport_messages_received`, help: `Number of messages received from ${what}.`, labelNames });
    const receivedSize = this.sampledCounter({ name: `${NS}_transport_messages_received_size`, help: `Size in bytes of messages received from ${what}.`, labelNames });
    const sample = (): void => {
      for (const cell of traffic.cells()) {
        const labels = { transport: cell.transport, frame_type: cell.frameType, channel_namespace: '' };
        const key = `${cell.direction}/${cell.transport}/${cell.frameType}`;
        this.catchUp(cell.direction === 'sent' ? sent : received, `${key}/n`, labels, cell.count);
        this.catchUp(cell.direction === 'sent' ? sentSize : receivedSize, `${key}/b`, labels, cell.bytes);
      }
    };
  }

  /** A classic histogram, or a native one (no classic buckets) when native histograms are on. */
  private histogram<T extends string>(cfg: HistogramConfig<T>): Observer<T> {
    const registers = [this.registry];
    if (!this.native) return new Histogram({ ...cfg, registers });
    const clock = this.node.clock;
    return new NativeHistogramVec({ name: cfg.name, help: cfg.help, labelNames: cfg.labelNames, registers, ...NATIVE, now: () => clock.now() });
  }

  private sampledCounter<T extends string>(cfg: Omit<CounterConfiguration<T>, 'registers'>): Counter<T> {
    return new Counter({ ...cfg, registers: [this.registry] });
  }

  /** Brings a counter up to a sampled running total (counters only go up). */
  private catchUp<T extends string>(c: Counter<T>, key: string, labels: Partial<Record<T, string>>, total: number): void {
    const last = this.lastSeen.get(key) ?? 0;
    if (total > last || !this.lastSeen.has(key)) c.inc(labels, Math.max(0, total - last));
    this.lastSeen.set(key, Math.max(total, last));
  }
}
