/**
 * The composition root: builds the broker, presence manager, token verifier, node,
 * transports and HTTP routes from a loaded configuration, and starts and stops them
 * in order. It can listen on its own ports or attach to an application's http.Server.
 */
import { buildMapBroker, type MapBrokerSection } from './map-engine.js';
import { buildProxyBindings, type BuiltProxies, type ProxyConfigSource } from './proxy-bindings.js';
import { createProxy } from './proxies.js';
import { LifecycleEvents, type LifecycleConfigSource } from './lifecycle-events.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { Autocert, type AutocertConfig } from './autocert.js';
import { HttpListener, listenerTls, type ListenerTls, type ListenerTlsBlock } from './http-listener.js';
import type { Duplex } from 'node:stream';
import { ApiEndpoint, ApiExecutor, apiHandlerOf } from '../api/index.js';
import { JwtVerifier, type TokenConfig } from '../auth/index.js';
import { compileGoRegex } from '../config/index.js';
import type { ConsumerConfig } from '../config/index.js';
import type { Consumer } from '../consumers/index.js';
import { buildConsumers, consumerInfo } from './consumers.js';
import type { ChannelRules } from '../core/index.js';
import type { NodeHandlers } from '../core/index.js';
import { Node } from '../core/index.js';
import type { ClientRules, SharedPollRules } from '../core/index.js';
import type { Logger, TokenVerifier } from '../core/index.js';
import { WebSocketHandler } from '../transports/websocket.js';
import { inflatedMessageLimit } from '../transports/ws-frames.js';
import { ClientTransports, type ClientTransportsConfig } from './client-transports.js';
import { OpsRoutes, type OpsConfig } from './ops-routes.js';
import { buildEngine } from './engine.js';
import { redisPubSubErrors } from '../brokers/index.js';
import { FastApiPath } from './fast-api.js';
import type { GrpcServers, GrpcServersConfig } from './grpc-servers.js';
import { OriginCheck } from './origin.js';
import { planReload, type ReloadOutcome } from './reload.js';
import { gyreVersion } from './version.js';
import { healthRoute, type WorkerLink } from './worker-link.js';

/** The parts of the configuration the server reads (the loaded config satisfies it). */
export interface ServerConfig extends ClientTransportsConfig, OpsConfig, GrpcServersConfig {
  http_server?: {
    address?: string;
    port?: number | string;
    internal_address?: string;
    internal_port?: number | string;
    tls?: ListenerTlsBlock;
    internal_tls?: ListenerTlsBlock;
    tls_external?: boolean;
    h2c_external?: boolean;
    tls_autocert?: AutocertConfig & { enabled?: boolean };
  };
  client?: ClientRules & {
    token?: TokenConfig;
    subscription_token?: TokenConfig & { enabled?: boolean };
    allowed_origins?: readonly string[];
    insecure_skip_token_signature_verify?: boolean;
    connection_limit?: number;
  } & NonNullable<ClientTransportsConfig['client']>;
  channel?: ChannelRules;
  rpc?: { ping?: { enabled?: boolean; method?: string } };
  shared_poll?: SharedPollRules;
  http_api?: { disabled?: boolean; handler_prefix?: string; key?: string; error_mode?: string; external?: boolean; insecure?: boolean };
  websocket?: { disabled?: boolean; handler_prefix?: string; message_size_limit?: number; decompressed_message_size_limit?: number; compression?: boolean };
  health?: { enabled?: boolean; handler_prefix?: string };
  node?: { name?: string };
  engine?: { type?: string; redis?: object };
  broker?: { enabled?: boolean; type?: string; redis?: object; nats?: object };
  map_broker?: MapBrokerSection;
  presence_manager?: { enabled?: boolean; type?: string; redis?: object };
  controller?: { enabled?: boolean; type?: string; postgres?: object };
  consumers?: readonly ConsumerConfig[];
}

export interface ServerOptions {
  logger?: Logger;
  handlers?: NodeHandlers;
  /** Set in a worker process of `gyre --workers`: /health and /metrics then report every worker. */
  workerLink?: WorkerLink;
}

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * A request head must arrive whole within 10 s (node:http's default is 60 s, checked every
 * 30 s): a client trickling header lines (slowloris) holds its socket for at most about 12 s.
 */
const HTTP_SERVER_OPTIONS: http.ServerOptions = { headersTimeout: 10_000, connectionsCheckingInterval: 2_000 };

/** A running Gyre: the node plus its HTTP surface. */
export class GyreServer {
  readonly node: Node;
  /** The application backend's hooks from the configuration (closed after the node). */
  private readonly proxies: BuiltProxies;
  /** Disconnect / unsubscribe notifications and channel state events (closed after the node). */
  private readonly lifecycle: LifecycleEvents;
  /** Which broker and presence manager run, e.g. "memory", "redis" or "nats+memory". */
  readonly engineDescription: string;
  private readonly logger: Logger;
  private readonly ws: WebSocketHandler | undefined;
  private readonly wsPath: string;
  private readonly externalRoutes: Route[] = [];
  private readonly internalRoutes: Route[] = [];
  private readonly origin: OriginCheck;
  /** HTTP-streaming, SSE, emulation and the unidirectional transports. */
  readonly transports: ClientTransports;
  private readonly servers: HttpListener[] = [];
  /** ACME certificates, when `tls_autocert` is on (closed after the listeners). */
  private autocert: Autocert | undefined;
  /** Metrics, admin UI, API tracing and debug logging. */
  readonly ops: OpsRoutes;
  private readonly attached: {
    server: http.Server;
    request: (req: IncomingMessage, res: ServerResponse) => void;
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
    previous: ((req: IncomingMessage, res: ServerResponse) => void)[];
  }[] = [];
  private closed = false;
  /** The API endpoint and which listener serves it, for the keep-alive fast path. */
  private apiEndpoint: { endpoint: ApiEndpoint; external: boolean } | undefined;
  private readonly fastPaths: FastApiPath[] = [];
  /** The GRPC API and uni_grpc listeners, once started (only when enabled). */
  private grpc: GrpcServers | undefined;
  /** Closes the dedicated controller, after the node. */
  private readonly closeController: () => Promise<void>;
  /** Async consumers, started after the node and closed before it. */
  private readonly consumers: Consumer[];
  /** The configuration whose token and namespace settings are in effect (the start one until a reload). */
  private applied: ServerConfig;

  constructor(
    private readonly config: ServerConfig,
    opts: ServerOptions = {},
  ) {
    this.logger = opts.logger ?? nodeLoggerFallback;
    this.applied = config;
    const client = config.client ?? {};
    const tokenVerifier = buildVerifier(client);
    const engine = buildEngine(
      {
        engine: config.engine,
        broker: config.broker,
        presence_manager: config.presence_manager,
        controller: config.controller,
        historyMetaTtlMs: config.channel?.history_meta_ttl,
      },
      this.logger,
    );
    this.engineDescription = engine.description;
    this.closeController = engine.closeController;
    this.proxies = buildProxyBindings(config as ProxyConfigSource, createProxy);
    this.node = new Node(
      { name: config.node?.name, version: gyreVersion, client, channel: config.channel, rpc: config.rpc, shared_poll: config.shared_poll, compileRegex: compileGoRegex },
      {
        broker: engine.broker,
        presenceManager: engine.presenceManager,
        controller: engine.controller,
        tokenVerifier,
        logger: this.logger,
        handlers: opts.handlers,
        proxies: this.proxies.bindings,
        mapBroker: buildMapBroker(config.map_broker ?? {}, this.logger),
        // A compressed WebSocket message may inflate past message_size_limit, up to its own bound.
        maxCommandBytes: config.websocket?.compression
          ? inflatedMessageLimit(config.websocket.message_size_limit || 65536, config.websocket.decompressed_message_size_limit)
          : config.websocket?.message_size_limit || 65536,
      },
    );
    this.lifecycle = new LifecycleEvents(this.node, config as LifecycleConfigSource, this.logger);
    this.origin = new OriginCheck(client.allowed_origins ?? []);
    this.wsPath = config.websocket?.handler_prefix || '/connection/websocket';
    if (!config.websocket?.disabled) {
      this.ws = new WebSocketHandler(this.node, {
        messageSizeLimit: config.websocket?.message_size_limit,
        decompressedMessageSizeLimit: config.websocket?.decompressed_message_size_limit,
        compression: config.websocket?.compression,
        pingIntervalMs: client.ping_interval,
        pongTimeoutMs: client.pong_timeout,
      });
    }
    this.transports = new ClientTransports(this.node, config, this.origin, this.logger);
    this.externalRoutes.push(...this.transports.routes);
    const api = config.http_api ?? {};
    const executor = new ApiExecutor(this.node, { logger: this.logger });
    this.consumers = buildConsumers(this.node, this.node.id, config.consumers, this.logger);
    const consumers = this.consumers;
    if (consumers.length > 0) this.node.setConsumersSource(() => consumers.map((c) => consumerInfo(c.state())));
    this.ops = new OpsRoutes(this.node, config, executor, this.logger);
    if (!api.disabled) {
      const prefix = api.handler_prefix || '/api';
      const endpoint = new ApiEndpoint(executor, {
        key: api.key ?? '',
        insecure: !!api.insecure,
        errorMode: api.error_mode === 'transport' ? 'transport' : '',
        prefix,
        logger: this.logger,
      });
      this.apiEndpoint = { endpoint, external: !!api.external };
      const route = apiHandlerOf(endpoint);
      (api.external ? this.externalRoutes : this.internalRoutes).push(this.ops.traceApi(route, prefix));
    }
    if (config.health?.enabled) this.internalRoutes.push(healthRoute(config.health.handler_prefix || '/health', opts.workerLink));
    const link = opts.workerLink;
    this.ops.mount(this.externalRoutes, this.internalRoutes, link ? () => link.clusterMetrics() : undefined);
    const apiPaths = this.apiEndpoint ? [this.apiEndpoint.endpoint.legacyPath, ...executor.methods.map((m) => `${this.apiEndpoint!.endpoint.prefix}/${m}`)] : [];
    this.ops.httpRoutes({
      exact: [...(this.ws ? [this.wsPath] : []), ...this.transports.paths.exact, ...apiPaths, ...(config.health?.enabled ? [config.health.handler_prefix || '/health'] : [])],
      subtrees: this.transports.paths.subtrees,
    });
    const pubSubErrors = redisPubSubErrors(engine.broker);
    if (pubSubErrors) this.ops.metrics?.observeRedisPubSub('broker', pubSubErrors);
    const mapPubSubErrors = this.node.mapBroker && redisPubSubErrors(this.node.mapBroker);
    if (mapPubSubErrors) this.ops.metrics?.observeRedisPubSub('map_broker', mapPubSubErrors);
  }

  /**
   * Binds the GRPC API and uni_grpc listeners when enabled. Their module (and the GRPC
   * packages) load only then, keeping them off the startup path of everyone else.
   */
  private async listenGrpc(): Promise<void> {
    const config = this.config;
    if (this.grpc || (!config.grpc_api?.enabled && !config.uni_grpc?.enabled)) return;
    const { GrpcServers } = await import('./grpc-servers.js');
    // Its own executor: the same methods, with calls counted under protocol "grpc".
    const grpcExecutor = config.grpc_api?.enabled ? new ApiExecutor(this.node, { logger: this.logger, protocol: 'grpc' }) : undefined;
    if (grpcExecutor) this.ops.metrics?.observeApi(grpcExecutor);
    this.grpc = new GrpcServers(this.node, config, grpcExecutor, this.logger);
    await this.grpc.listen();
  }

  /**
   * Configuration reload: builds token verifiers from `next` and swaps them in together with
   * its channel namespace options; connections and subscriptions already established are not
   * touched. Anything else that differs from the start configuration is only reported, in
   * `restartNeeded`. Rejects, leaving the running configuration in place, when the new token
   * settings cannot work (bad key, unsafe JWKS template, bad regex).
   */
  async reload(next: ServerConfig): Promise<ReloadOutcome> {
    const verifier = buildVerifier(next.client ?? {});
    await verifier.ready();
    const { restartNeeded } = planReload(this.config, next);
    const { applied } = planReload(this.applied, next);
    this.node.reconfigure({ tokenVerifier: verifier, channel: next.channel ?? {} });
    this.applied = next;
    return { applied, restartNeeded };
  }

  /** Starts the node (broker connection). Called by listen() and attach(). */
  async start(): Promise<void> {
    await this.ops.start();
    this.lifecycle.start();
    await this.node.start();
    await Promise.all(this.consumers.map((c) => c.start()));
  }

  private get separateInternal(): boolean {
    const p = this.config.http_server?.internal_port;
    return p !== undefined && p !== '' && String(p) !== String(this.config.http_server?.port ?? 8000);
  }

  /**
   * Listens on http_server.address/port (and internal_port when distinct), over TLS (HTTP/2
   * and HTTP/1.1) where the configuration asks for it, cleartext HTTP/2 beside HTTP/1.1 on the
   * external port with `h2c_external`. Resolves to the bound ports.
   */
  async listen(): Promise<{ port: number; internalPort: number }> {
    const hs = this.config.http_server ?? {};
    const separate = this.separateInternal;
    // Certificates are read before anything starts: a bad PEM fails the start at once.
    const externalTls = this.externalTls();
    let internalTls = externalTls;
    if (separate && hs.internal_tls?.enabled) internalTls = listenerTls(hs.internal_tls, 'http_server.internal_tls');
    else if (separate && hs.tls_external) internalTls = undefined;
    await this.start();
    // GRPC first: once the HTTP port answers, every listener does.
    await this.listenGrpc();
    await this.autocert?.start();
    const extMode = externalTls ? 'tls' : hs.h2c_external && separate ? 'h2c' : 'plain';
    const external = this.httpListener(extMode, externalTls, separate ? 'external' : 'both');
    this.servers.push(external);
    const api = this.apiEndpoint;
    const port = await external.listen(hs.address ?? '', Number(hs.port ?? 8000), LISTEN_BACKLOG);
    let internalPort = port;
    if (api && (!separate || api.external) && extMode === 'plain') this.installFastApi(external.http1, api.endpoint);
    if (separate) {
      const internal = this.httpListener(internalTls ? 'tls' : 'plain', internalTls, 'internal');
      this.servers.push(internal);
      if (api && !api.external && !internalTls) this.installFastApi(internal.http1, api.endpoint);
      internalPort = await internal.listen(hs.internal_address || hs.address || '', Number(hs.internal_port), LISTEN_BACKLOG);
    }
    this.logger.info({ port, internalPort, version: gyreVersion, tls: !!externalTls, h2c: extMode === 'h2c' }, 'Gyre is serving');
    return { port, internalPort };
  }

  /** The external port's TLS: ACME certificates when `tls_autocert` is on, else the `tls` block, else none. */
  private externalTls(): ListenerTls | undefined {
    const hs = this.config.http_server ?? {};
    if (hs.tls_autocert?.enabled) {
      const autocert = new Autocert(hs.tls_autocert, this.logger);
      this.autocert = autocert;
      autocert.onCertificate = (host, key, cert) => {
        if (host !== autocert.defaultHost) return;
        for (const l of this.servers) l.setDefaultContext({ key, cert, minVersion: 'TLSv1.2' });
      };
      return {
        options: { minVersion: 'TLSv1.2' },
        sni: (name, acmeAlpn) => autocert.context(name, acmeAlpn),
        // A first handshake for a name waits for its certificate to be issued.
        handshakeTimeoutMs: 120_000,
      };
    }
    return hs.tls?.enabled ? listenerTls(hs.tls, 'http_server.tls') : undefined;
  }

  private httpListener(mode: 'plain' | 'h2c' | 'tls', tls: ListenerTls | undefined, which: 'external' | 'internal' | 'both'): HttpListener {
    return new HttpListener({
      mode,
      tls,
      http1Options: HTTP_SERVER_OPTIONS,
      onRequest: (req, res) => this.handleRequest(req, res, which),
      // The internal port serves no client transports: node:http drops its upgrade requests.
      onUpgrade: which === 'internal' ? undefined : (req, socket, head) => this.handleUpgrade(req, socket, head),
      logger: this.logger,
    });
  }

  /** Serves keep-alive API calls on this listener without node:http's per-request machinery. */
  private installFastApi(server: http.Server, endpoint: ApiEndpoint): void {
    if (process.env.GYRE_API_FAST_PATH === '0') return;
    try {
      this.fastPaths.push(new FastApiPath(server, endpoint, this.logger, { bypass: () => this.ops.perRequestHooks }));
    } catch (err) {
      this.logger.warn({ err }, 'server API fast path not installed; node:http serves every request');
    }
  }

  /**
   * Mounts Gyre on an application's server: Gyre's paths are answered by Gyre, every other
   * request goes to the request listeners the server had when attach() was called.
   */
  async attach(server: http.Server): Promise<void> {
    await this.start();
    await this.listenGrpc();
    const previous = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    const request = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.route(req, res, 'both')) return;
      for (const l of previous) l.call(server, req, res);
    };
    const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      if (this.ownsUpgrade(pathOf(req))) this.handleUpgrade(req, socket, head);
    };
    server.on('request', request);
    server.on('upgrade', upgrade);
    this.attached.push({ server, request, upgrade, previous });
  }

  /**
   * Express/Connect-style middleware: Gyre answers its own paths and calls next() for the rest.
   * A bound function property, so `app.use(gyre.server.middleware())` and a detached
   * `const { middleware } = gyre.server` both work.
   */
  readonly middleware = (): ((req: IncomingMessage, res: ServerResponse, next: () => void) => void) => {
    return (req, res, next) => {
      if (!this.route(req, res, 'both')) next();
    };
  };

  /**
   * An `upgrade` listener: completes the WebSocket upgrade for Gyre's paths and returns false,
   * leaving the socket untouched, for any other path. A bound function property, so it can be
   * passed as is: `server.on('upgrade', gyre.server.upgrade)`.
   */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    if (!this.ownsUpgrade(pathOf(req))) return false;
    this.handleUpgrade(req, socket, head);
    return true;
  };

  /** Routes one request; returns true when Gyre handled it. */
  route(req: IncomingMessage, res: ServerResponse, which: 'external' | 'internal' | 'both'): boolean {
    const routes = which === 'external' ? this.externalRoutes : which === 'internal' ? this.internalRoutes : [...this.externalRoutes, ...this.internalRoutes];
    for (const r of routes) if (r(req, res)) return true;
    return false;
  }

  private handleRequest(req: IncomingMessage, res: ServerResponse, which: 'external' | 'internal' | 'both'): void {
    this.ops.observeRequest(req, res);
    try {
      if (this.route(req, res, which)) return;
    } catch (err) {
      this.node.faults.log('error', { err, path: req.url }, 'request handling failed');
      if (!res.headersSent) res.writeHead(500).end('Internal Server Error');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
  }

  private ownsUpgrade(path: string): boolean {
    return path === this.wsPath || this.transports.ownsUpgrade(path);
  }

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = pathOf(req);
    const uni = this.transports.ownsUpgrade(path);
    if (!uni && (!this.ws || path !== this.wsPath)) {
      this.ops.observeUpgrade(req, 404);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!this.origin.allowed(req.headers.origin)) {
      this.ops.observeUpgrade(req, 403);
      this.logger.info({ origin: req.headers.origin }, 'websocket origin rejected');
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!this.transports.acceptsConnection()) {
      this.ops.observeUpgrade(req, 503);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.ops.observeUpgrade(req, 101);
    if (uni) this.transports.handleUpgrade(req, socket, head);
    else this.ws?.handleUpgrade(req, socket, head);
  }

  /**
   * Stops accepting connections, disconnects clients with 3001 (they reconnect elsewhere)
   * after flushing what was queued for them, closes the broker, waits for in-flight requests
   * (forcing them closed after 1 s) and flushes metrics/tracing.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.attached) {
      a.server.off('request', a.request);
      a.server.off('upgrade', a.upgrade);
      for (const l of a.previous) a.server.on('request', l);
    }
    const stopped = this.servers.map((s) => s.stopAccepting());
    if (this.grpc) stopped.push(this.grpc.close());
    for (const f of this.fastPaths) f.close();
    await Promise.all(this.consumers.map((c) => c.close()));
    await this.node.shutdown();
    await this.closeController();
    await Promise.all([this.proxies.close(), this.lifecycle.close()]);
    this.ws?.close();
    this.transports.close();
    this.ops.beginClose();
    for (const s of this.servers) s.drain(1000);
    setTimeout(() => {
      for (const f of this.fastPaths) f.closeAll();
    }, 1000).unref();
    await Promise.all(stopped);
    await this.autocert?.close();
    await this.ops.close();
  }
}

function buildVerifier(client: NonNullable<ServerConfig['client']>): JwtVerifier {
  const sub = client.subscription_token?.enabled ? client.subscription_token : undefined;
  return new JwtVerifier(client.token ?? {}, sub, {
    skipSignatureVerify: !!client.insecure_skip_token_signature_verify,
    compileRegex: compileGoRegex,
  });
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * Listen backlog: a burst of reconnecting clients (a deploy, a network blip) overflows
 * Node's default of 511 and the kernel then drops or resets handshakes. The kernel caps
 * it at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 4096;

const noop = (): void => {};
const nodeLoggerFallback: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop };
