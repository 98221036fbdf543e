/**
 * Mounts the client transports besides bidirectional WebSocket: HTTP-streaming, SSE and
 * their emulation endpoint, SockJS, uni_websocket, uni_sse and uni_http_stream, each behind
 * its config section. Every connection endpoint goes through the origin/CORS rule and the
 * `client.connection_limit` check (503); `/emulation` gets only the origin/CORS rule.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Node } from '../core/index.js';
import type { Logger } from '../core/index.js';
import type { UniDisconnectTransform } from '../core/index.js';
import { EmulationHandler, ForwardingEmulationRouter, LocalEmulationRouter } from '../transports/emulation.js';
import { HttpStreamHandler } from '../transports/http-stream.js';
import { SockJsHandler } from '../transports/sockjs.js';
import { SseHandler } from '../transports/sse.js';
import { UniHttpStreamHandler } from '../transports/uni-http-stream.js';
import { UniSseHandler } from '../transports/uni-sse.js';
import type { ConnectCodeHttpTransform } from '../transports/uni-stream.js';
import { UniWebSocketHandler } from '../transports/uni-websocket.js';
import type { OriginCheck } from './origin.js';

interface StreamSection {
  enabled?: boolean;
  handler_prefix?: string;
  max_request_body_size?: number;
}

interface UniStreamSection extends StreamSection {
  connect_code_to_http_response?: { enabled?: boolean; transforms?: readonly ConnectCodeHttpTransform[] };
}

/** The configuration sections this module reads (the loaded config satisfies it). */
export interface ClientTransportsConfig {
  client?: {
    connection_limit?: number;
    ping_interval?: number;
    connect_code_to_unidirectional_disconnect?: { enabled?: boolean; transforms?: readonly UniDisconnectTransform[] };
  };
  http_stream?: StreamSection;
  sse?: StreamSection;
  emulation?: { handler_prefix?: string; max_request_body_size?: number };
  /** Durations in milliseconds, as the loaded config holds them. */
  sockjs?: { enabled?: boolean; handler_prefix?: string; url?: string; heartbeat_delay?: number; disconnect_delay?: number };
  websocket?: { message_size_limit?: number };
  uni_websocket?: {
    enabled?: boolean;
    handler_prefix?: string;
    message_size_limit?: number;
    compression?: boolean;
    /** Largest message after inflating; 0 = 10 x message_size_limit. */
    decompressed_message_size_limit?: number;
    join_push_messages?: boolean;
    disable_disconnect_push?: boolean;
    disable_closing_handshake?: boolean;
  };
  uni_sse?: UniStreamSection;
  uni_http_stream?: UniStreamSection;
  /** `GET /connection/init` answering `{}` (connection warm-up). */
  init?: { enabled?: boolean; handler_prefix?: string };
}

/** The connection warm-up endpoint: GET answers `{}`, preflights are answered empty, anything else 405. */
const initHandler: HttpHandler = {
  handle(req, res) {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{}');
    } else if (req.method === 'OPTIONS') {
      res.writeHead(200).end();
    } else {
      res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
    }
  },
};

type Route = (req: IncomingMessage, res: ServerResponse) => boolean;
type HttpHandler = { handle(req: IncomingMessage, res: ServerResponse): void };

/** Routes and upgrade handlers of the enabled client transports. */
export class ClientTransports {
  /** Request routes, one per enabled endpoint. */
  readonly routes: Route[] = [];
  /** The endpoints' paths: exact ones, and subtree prefixes (ending in `/`), for request metrics. */
  readonly paths: { exact: string[]; subtrees: string[] } = { exact: [], subtrees: [] };
  /** The emulation session registry, when HTTP-streaming or SSE is on. */
  readonly emulation: LocalEmulationRouter | undefined;
  private readonly uniWs: UniWebSocketHandler | undefined;
  private readonly uniWsPath: string;
  private readonly sockjs: SockJsHandler | undefined;

  constructor(
    private readonly node: Node,
    private readonly config: ClientTransportsConfig,
    private readonly origin: OriginCheck,
    logger: Logger,
  ) {
    const uniTransforms = config.client?.connect_code_to_unidirectional_disconnect?.enabled
      ? (config.client.connect_code_to_unidirectional_disconnect.transforms ?? [])
      : [];
    const hs = config.http_stream ?? {};
    const sse = config.sse ?? {};
    if (hs.enabled || sse.enabled) {
      this.emulation = new LocalEmulationRouter(node.id);
      const em = config.emulation ?? {};
      const router = new ForwardingEmulationRouter(this.emulation, node);
      const handler = new EmulationHandler(router, logger, { maxRequestBodySize: em.max_request_body_size });
      this.mount(em.handler_prefix || '/emulation', handler, false);
      if (hs.enabled) {
        const h = new HttpStreamHandler(node, this.emulation, { maxRequestBodySize: hs.max_request_body_size });
        this.mount(hs.handler_prefix || '/connection/http_stream', h, true);
      }
      if (sse.enabled) {
        const h = new SseHandler(node, this.emulation, { maxRequestBodySize: sse.max_request_body_size });
        this.mount(sse.handler_prefix || '/connection/sse', h, true);
      }
    }
    for (const [section, path, Ctor] of [
      [config.uni_sse, '/connection/uni_sse', UniSseHandler],
      [config.uni_http_stream, '/connection/uni_http_stream', UniHttpStreamHandler],
    ] as const) {
      if (!section?.enabled) continue;
      const h = new Ctor(node, {
        maxRequestBodySize: section.max_request_body_size,
        disconnectTransforms: uniTransforms,
        connectCodeToHttpResponse: section.connect_code_to_http_response,
      });
      this.mount(section.handler_prefix || path, h, true);
    }
    const sj = config.sockjs ?? {};
    if (sj.enabled) {
      const h = new SockJsHandler(node, {
        prefix: sj.handler_prefix,
        clientUrl: sj.url,
        heartbeatDelayMs: sj.heartbeat_delay,
        disconnectDelayMs: sj.disconnect_delay,
        messageSizeLimit: config.websocket?.message_size_limit,
        acceptsConnection: () => this.acceptsConnection(),
      });
      this.sockjs = h;
      this.paths.exact.push(h.prefix);
      this.paths.subtrees.push(`${h.prefix}/`);
      this.routes.push((req, res) => {
        if (!h.owns(pathOf(req))) return false;
        // SockJS answers CORS itself, reflecting the Origin: only allowed origins get that far.
        if (!this.origin.allowed(req.headers.origin)) {
          res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('Forbidden\n');
          return true;
        }
        h.handle(req, res);
        return true;
      });
    }
    if (config.init?.enabled) this.mount(config.init.handler_prefix || '/connection/init', initHandler, true);
    const uw = config.uni_websocket ?? {};
    this.uniWsPath = uw.handler_prefix || '/connection/uni_websocket';
    if (uw.enabled) {
      this.paths.exact.push(this.uniWsPath);
      this.uniWs = new UniWebSocketHandler(node, {
        messageSizeLimit: uw.message_size_limit,
        decompressedMessageSizeLimit: uw.decompressed_message_size_limit,
        compression: uw.compression,
        pingIntervalMs: config.client?.ping_interval,
        joinPushMessages: uw.join_push_messages,
        disableDisconnectPush: uw.disable_disconnect_push,
        disableClosingHandshake: uw.disable_closing_handshake,
        disconnectTransforms: uniTransforms,
      });
    }
  }

  /** True when a WebSocket upgrade on this path belongs to one of these transports. */
  ownsUpgrade(path: string): boolean {
    return (this.uniWs !== undefined && path === this.uniWsPath) || (this.sockjs?.owns(path) ?? false);
  }

  /** Completes an upgrade for which ownsUpgrade() was true (origin and limits already checked). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.sockjs?.owns(pathOf(req))) this.sockjs.handleUpgrade(req, socket, head);
    else this.uniWs?.handleUpgrade(req, socket, head);
  }

  /** True when the node can take one more connection (`client.connection_limit`, shutdown); counts limit refusals. */
  acceptsConnection(): boolean {
    if (this.node.isClosing) return false;
    const limit = this.config.client?.connection_limit ?? 0;
    if (limit > 0 && this.node.hub.numClients >= limit) {
      this.node.traffic.connectionLimitRefusals++;
      return false;
    }
    return true;
  }

  private mount(path: string, handler: HttpHandler, connection: boolean): void {
    this.paths.exact.push(path);
    this.routes.push((req, res) => {
      if (pathOf(req) !== path) return false;
      this.cors(req, res);
      if (connection && req.method !== 'OPTIONS' && !this.acceptsConnection()) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('Service Unavailable\n');
        return true;
      }
      handler.handle(req, res);
      return true;
    });
  }

  /** An allowed Origin is reflected with credentials; a disallowed one simply gets no CORS headers. */
  private cors(req: IncomingMessage, res: ServerResponse): void {
    const origin = req.headers.origin;
    if (!origin || !this.origin.allowed(origin)) return;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-allow-credentials', 'true');
    const reqHeaders = req.headers['access-control-request-headers'];
    if (reqHeaders) res.setHeader('access-control-allow-headers', reqHeaders);
  }

  close(): void {
    this.uniWs?.close();
    this.sockjs?.close();
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
