/**
 * Gyre as a library: run a Centrifugo-compatible real-time server inside any Node
 * application, share its HTTP server, publish from code and decide connects,
 * subscriptions, publishes and RPCs with in-process handlers.
 */
import type http from 'node:http';
import { configFromObject } from './config/from-object.js';
import type { NodeHandlers } from './core/index.js';
import type { ApiPublishResult } from './core/index.js';
import type { Node } from './core/index.js';
import type { Logger } from './core/index.js';
import { GyreServer } from './server/index.js';

export { ProtocolError, Disconnect, Errors, Disconnects } from './protocol/codes.js';
export type {
  NodeHandlers,
  ClientRef,
  ConnectingContext,
  ConnectingResult,
  SubscribeContext,
  SubscribeDecision,
  PublishContext,
  RpcContext,
  RefreshDecision,
  EndReason,
} from './core/index.js';
export type { Logger } from './core/index.js';
export { GyreServer, startServer, gyreVersion } from './server/index.js';
export { configFromObject } from './config/from-object.js';
export type { GyreConfig } from './config/index.js';

export interface GyreOptions {
  /** Configuration in the Centrifugo file format (durations as "25s" strings); defaults apply. */
  config?: Record<string, unknown>;
  handlers?: NodeHandlers;
  logger?: Logger;
}

export interface PublishOptions {
  /** Publication tags. */
  tags?: Record<string, string>;
  /** Do not keep this publication in history. */
  skipHistory?: boolean;
  /** Repeated publishes with the same key within 5 minutes are delivered once. */
  idempotencyKey?: string;
}

/** A Gyre instance embedded in an application. */
export class Gyre {
  readonly server: GyreServer;

  constructor(opts: GyreOptions = {}) {
    const { config } = configFromObject(opts.config ?? {});
    this.server = new GyreServer(config, { logger: opts.logger, handlers: opts.handlers });
  }

  /** The engine, for advanced use (server API methods, events). */
  get node(): Node {
    return this.server.node;
  }

  /** Serves Gyre's paths (/connection/websocket, /api, ...) on an existing server. */
  attach(server: http.Server): Promise<void> {
    return this.server.attach(server);
  }

  /** Listens on the configured http_server address and port. */
  listen(): Promise<{ port: number; internalPort: number }> {
    return this.server.listen();
  }

  /** Publishes a JSON value (or raw bytes) to a channel; resolves with its stream position. */
  publish(channel: string, data: unknown, opts: PublishOptions = {}): Promise<ApiPublishResult> {
    const bytes = data instanceof Uint8Array ? data : Buffer.from(JSON.stringify(data));
    return this.server.node.publish({ channel, data: bytes, tags: opts.tags, skipHistory: opts.skipHistory, idempotencyKey: opts.idempotencyKey });
  }

  /** Disconnects every client with 3001 "shutdown" and releases all resources. */
  close(): Promise<void> {
    return this.server.close();
  }
}

/** Creates a Gyre instance and starts its engine. */
export async function createGyre(opts: GyreOptions = {}): Promise<Gyre> {
  const g = new Gyre(opts);
  await g.server.start();
  return g;
}
