/**
 * The engine: owns the hub, channel rules, the broker and presence ports, the shared
 * timer wheel, and creates client sessions for transports. It answers the server API
 * (NodeApi) and receives broker events (BrokerEventHandler).
 */
import { MapApi, type NodeMapApi } from './map-api.js';
import type { MapBroker, MapPublication } from './map-broker.js';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { CodecError, codecFor } from '../protocol/codec.js';
import { Disconnect, Disconnects, Errors, Unsubscribes } from '../protocol/codes.js';
import type { ClientInfo, ProtocolType, Reply } from '../protocol/types.js';
import type { ChannelOptions } from './channel-options.js';
import { ChannelResolver, historyEnabled, type ReloadableChannelRules } from './channels.js';
import { ClientSession } from './client/client.js';
import type { NodeContext } from './client/context.js';
import { addServerSubscription, type ServerSubscribeInput } from './client/server-subs.js';
import { Cluster, type ClusterMember } from './cluster.js';
import type { NodeHandlers } from './handlers.js';
import { DeliveryModes, Hub, type DeliveryMode, type PushFraming } from './hub.js';
import { jsonStringData } from './delta.js';
import type {
  ApiDisconnectRequest,
  ApiHistoryRequest,
  ApiHistoryResult,
  ApiPublishRequest,
  ApiPublishResult,
  ApiRefreshRequest,
  ApiSharedPollPublishRequest,
  ApiSubscribeRequest,
  ConnectionSelector,
  NodeApi,
  NodeConsumerInfo,
  NodeInfo,
} from './node-api.js';
import { resolveClientRules, type NodeOptions, type ResolvedClientRules } from './options.js';
import {
  nullLogger,
  systemClock,
  type Broker,
  type BrokerEventHandler,
  type BrokerPublication,
  type Clock,
  type Controller,
  type Logger,
  type PresenceManager,
  type PublishOptions,
  type StreamPosition,
  type TokenVerifier,
} from './ports.js';
import { TimerWheel } from './timer-wheel.js';
import { SharedPollNode } from './shared-poll/node-binding.js';
import { LogLimiter } from './log-limiter.js';
import { noProxies, type ProxyBindings } from './proxy-ports.js';
import { TrafficCounters } from './traffic.js';
import type { Transport, TransportRequest } from './transport.js';

/** Keys map-channel operations apart from stream-channel ones in the per-channel op chain. */
const MAP_OP_PREFIX = '\u0000map:';

export interface NodeDeps {
  broker: Broker;
  presenceManager: PresenceManager;
  tokenVerifier?: TokenVerifier;
  logger?: Logger;
  clock?: Clock;
  handlers?: NodeHandlers;
  /** Largest command inside a frame; 0 = no limit. Defaults to 65536. */
  maxCommandBytes?: number;
  /** Node-to-node channel; without it the node is a cluster of one. */
  controller?: Controller;
  /** The application backend's hooks (connect, subscribe, publish, RPC, ... proxies); none by default. */
  proxies?: ProxyBindings;
  /** Storage of map channels; without it the map API methods answer 108. */
  mapBroker?: MapBroker;
}

export interface HistoryRead {
  limit: number;
  since?: StreamPosition;
  reverse?: boolean;
  /** Cap for limit (and for "all", limit < 0); 0 = no cap. */
  maxLimit: number;
}

export class Node implements NodeContext, BrokerEventHandler, NodeApi, ClusterMember {
  readonly id = randomUUID();
  readonly name: string;
  readonly version: string;
  readonly rules: ResolvedClientRules;
  readonly resolver: ChannelResolver;
  readonly hub: Hub<ClientSession>;
  readonly broker: Broker;
  readonly presenceManager: PresenceManager;
  private verifier: TokenVerifier | undefined;
  readonly handlers: NodeHandlers;
  readonly wheel: TimerWheel;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly proxies: ProxyBindings;
  /** Shared-poll subscriptions' engine (subscriptions.md §6). */
  readonly sharedPoll: SharedPollNode;
  /** The server API's map methods; undefined when the node has no map broker. */
  readonly maps: NodeMapApi | undefined;
  readonly mapBroker: MapBroker | undefined;
  /** Rate-limited logging for what clients can cause (malformed input, bad tokens). */
  readonly faults: LogLimiter;
  /** Typed events (NodeEventMap in node-events.ts); core only emits. */
  readonly events = new EventEmitter();
  readonly traffic = new TrafficCounters();
  readonly maxCommandBytes: number;
  readonly rpcPing: { enabled: boolean; method: string };
  private readonly startedAt: number;
  private consumersSource: (() => NodeConsumerInfo[]) | undefined;
  private readonly channelRefs = new Map<string, number>();
  private readonly channelOps = new Map<string, Promise<void>>();
  private readonly mapChannelRefs = new Map<string, number>();
  private closing = false;
  private running = false;
  private readonly cluster: Cluster | undefined;
  private readonly controlHandlers = new Map<string, (body: unknown) => Promise<void> | void>();

  constructor(options: NodeOptions, deps: NodeDeps) {
    this.name = options.name || hostname();
    this.version = options.version ?? '0.0.0';
    this.rules = resolveClientRules(options.client);
    this.resolver = new ChannelResolver(options.channel ?? {}, options.compileRegex);
    this.broker = deps.broker;
    this.presenceManager = deps.presenceManager;
    this.verifier = deps.tokenVerifier;
    this.handlers = deps.handlers ?? {};
    this.proxies = deps.proxies ?? noProxies;
    this.mapBroker = deps.mapBroker;
    this.maps = deps.mapBroker ? new MapApi(this.resolver, deps.mapBroker) : undefined;
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? nullLogger;
    this.faults = new LogLimiter(this.logger);
    this.maxCommandBytes = deps.maxCommandBytes ?? 65536;
    this.rpcPing = { enabled: !!options.rpc?.ping?.enabled, method: options.rpc?.ping?.method || 'ping' };
    this.wheel = new TimerWheel(100, () => this.clock.now());
    this.sharedPoll = new SharedPollNode({
      rules: options.shared_poll,
      resolver: this.resolver,
      proxies: this.proxies,
      scheduler: this.wheel,
      clock: this.clock,
      logger: this.logger,
    });
    this.hub = new Hub(encodePushVariant);
    this.startedAt = this.clock.now();
    this.events.setMaxListeners(0);
    if (deps.controller) this.cluster = new Cluster(this, deps.controller, this.logger);
  }

  /**
   * Connects the broker; call once before accepting clients. When the broker cannot be reached
   * the node still starts (local clients are served, broker calls fail) and keeps retrying in
   * the background, logging the outage once.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.connectBroker();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'broker unavailable at start, retrying in the background');
      this.retryBroker(1);
    }
  }

  private async connectBroker(): Promise<void> {
    await this.broker.run(this);
    // Live map changes go to the hub like stream publications (key and removal included).
    await this.mapBroker?.run({ handleMapPublication: (channel, pub, position, delta, prev) => this.handleMapPublication(channel, pub, position, delta ? prev : undefined) });
    await this.cluster?.start();
  }

  private retryBroker(attempt: number): void {
    if (this.closing) return;
    const delay = Math.min(5000, 250 * 2 ** Math.min(attempt, 5));
    setTimeout(() => {
      this.connectBroker().then(
        () => this.logger.info({ attempts: attempt }, 'broker connected'),
        () => this.retryBroker(attempt + 1),
      );
    }, delay).unref();
  }

  /** Verifies connection and subscription tokens; the one in place when a token arrives is used. */
  get tokenVerifier(): TokenVerifier | undefined {
    return this.verifier;
  }

  /**
   * Configuration reload: swaps the token verifier and/or the namespace options. Sessions and
   * subscriptions already established keep what they were accepted with; the next token check
   * and channel resolution use the new values.
   */
  reconfigure(update: { tokenVerifier?: TokenVerifier; channel?: ReloadableChannelRules }): void {
    if (update.tokenVerifier) this.verifier = update.tokenVerifier;
    if (update.channel) this.resolver.reloadOptions(update.channel);
  }

  /** Creates the session for a freshly accepted transport. */
  createClient(transport: Transport, request: TransportRequest): ClientSession {
    const c = new ClientSession(this, transport, request);
    this.traffic.transportConnected(transport.name);
    if (this.closing) c.close(Disconnects.shutdown);
    return c;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  // ---- channel interest, serialized per channel ----

  acquireChannel(channel: string): Promise<void> {
    const actions = this.traffic.actions;
    actions.add_subscription++;
    const n = (this.channelRefs.get(channel) ?? 0) + 1;
    this.channelRefs.set(channel, n);
    if (n === 1) {
      return this.channelOp(channel, () => {
        actions.broker_subscribe++;
        return this.broker.subscribe(channel);
      });
    }
    return this.channelOps.get(channel) ?? Promise.resolve();
  }

  releaseChannel(channel: string): void {
    const actions = this.traffic.actions;
    actions.remove_subscription++;
    const n = (this.channelRefs.get(channel) ?? 0) - 1;
    if (n > 0) {
      this.channelRefs.set(channel, n);
      return;
    }
    this.channelRefs.delete(channel);
    void this.channelOp(channel, async () => {
      if (this.channelRefs.has(channel)) return;
      actions.broker_unsubscribe++;
      await this.broker.unsubscribe(channel);
    }).catch((err: unknown) => this.logger.warn({ channel, err }, 'broker unsubscribe failed'));
  }

  acquireMapChannel(channel: string): Promise<void> {
    const broker = this.mapBroker;
    if (!broker) return Promise.reject(Errors.notAvailable);
    const actions = this.traffic.actions;
    actions.add_subscription++;
    const n = (this.mapChannelRefs.get(channel) ?? 0) + 1;
    this.mapChannelRefs.set(channel, n);
    const op = MAP_OP_PREFIX + channel;
    if (n === 1) {
      return this.channelOp(op, () => {
        actions.map_broker_subscribe++;
        return broker.subscribe(channel);
      });
    }
    return this.channelOps.get(op) ?? Promise.resolve();
  }

  releaseMapChannel(channel: string): void {
    const broker = this.mapBroker;
    const actions = this.traffic.actions;
    actions.remove_subscription++;
    const n = (this.mapChannelRefs.get(channel) ?? 0) - 1;
    if (n > 0) {
      this.mapChannelRefs.set(channel, n);
      return;
    }
    this.mapChannelRefs.delete(channel);
    if (!broker) return;
    void this.channelOp(MAP_OP_PREFIX + channel, async () => {
      if (this.mapChannelRefs.has(channel)) return;
      actions.map_broker_unsubscribe++;
      await broker.unsubscribe(channel);
    }).catch((err: unknown) => this.logger.warn({ channel, err }, 'map broker unsubscribe failed'));
  }

  private channelOp(channel: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.channelOps.get(channel) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.channelOps.set(channel, next);
    void next.finally(() => {
      if (this.channelOps.get(channel) === next) this.channelOps.delete(channel);
    }).catch(() => undefined);
    return next;
  }

  clientClosed(client: ClientSession, d: Disconnect, wasConnected: boolean): void {
    this.events.emit('disconnect', {
      client: client.id,
      user: client.userId,
      code: d.code,
      reason: d.reason,
      wasConnected,
      announced: client.announced,
      transport: client.transportName,
      name: client.clientName,
      version: client.clientVersion,
    });
    if (d.code !== 3000) this.logger.debug({ client: client.id, user: client.userId, code: d.code, reason: d.reason }, 'client disconnected');
    if (client.announced && this.handlers.onDisconnect) {
      try {
        this.handlers.onDisconnect(client, { code: d.code, reason: d.reason });
      } catch (err) {
        this.logger.warn({ client: client.id, err }, 'onDisconnect handler failed');
      }
    }
  }

  // ---- broker events ----

  handlePublication(channel: string, pub: BrokerPublication, position: StreamPosition, delta?: boolean, prev?: BrokerPublication): void {
    this.traffic.brokerReceived.publication++;
    const started = performance.now();
    this.hub.broadcastPublication(channel, pub, position, delta ? prev : undefined);
    this.events.emit('publication', { channel, pub, broadcastMs: performance.now() - started });
  }

  /** A live map change from the map broker: to the local subscribers of the map channel. */
  handleMapPublication(channel: string, pub: MapPublication, position: StreamPosition, prev?: MapPublication): void {
    this.traffic.brokerReceived.publication++;
    this.hub.broadcastPublication(channel, pub, position, prev, true);
  }

  handleJoin(channel: string, info: ClientInfo): void {
    this.traffic.brokerReceived.join++;
    this.hub.broadcastJoinLeave(channel, { push: { channel, join: { info } } });
    this.events.emit('join', { channel, info });
  }

  handleLeave(channel: string, info: ClientInfo): void {
    this.traffic.brokerReceived.leave++;
    this.hub.broadcastJoinLeave(channel, { push: { channel, leave: { info } } });
    this.events.emit('leave', { channel, info });
  }

  // ---- publishing and history ----

  /** Publishes with the channel's history options. Returns the stream position (offset 0 without history). */
  async publishToChannel(
    channel: string,
    data: Uint8Array,
    options: ChannelOptions,
    extra: Omit<PublishOptions, 'historySize' | 'historyTtlMs' | 'historyMetaTtlMs'> & { skipHistory?: boolean } = {},
  ): Promise<StreamPosition> {
    const { skipHistory, ...rest } = extra;
    const opts: PublishOptions = { ...rest };
    if (!skipHistory && historyEnabled(options)) {
      opts.historySize = options.history_size;
      opts.historyTtlMs = options.history_ttl;
      opts.historyMetaTtlMs = this.resolver.historyMetaTtlMs(options);
    }
    if (options.delta_publish) opts.delta = true;
    this.traffic.brokerSent.publication++;
    const res = await this.broker.publish(channel, data, opts);
    if (res.suppressed) this.traffic.publishSuppressed[res.suppressReason ?? 'idempotency']++;
    return res.position;
  }

  /** Reads history with client/API semantics: limit capping, epoch check (112), reverse rule (107). */
  async readHistory(channel: string, options: ChannelOptions, r: HistoryRead): Promise<ApiHistoryResult> {
    let limit = r.limit;
    if (r.maxLimit > 0 && (limit < 0 || limit > r.maxLimit)) limit = r.maxLimit;
    if (r.reverse && r.since && r.since.offset === 0) throw Errors.badRequest;
    this.traffic.actions.history++;
    const res = await this.broker.history(channel, {
      filter: { limit, since: r.since, reverse: r.reverse },
      metaTtlMs: this.resolver.historyMetaTtlMs(options),
    });
    if (r.since && r.since.epoch && r.since.epoch !== res.position.epoch) throw Errors.unrecoverablePosition;
    return { publications: res.publications, offset: res.position.offset, epoch: res.position.epoch };
  }

  // ---- NodeApi ----

  channelOptions(channel: string): ChannelOptions | undefined {
    return this.resolver.resolve(channel)?.options;
  }

  private mustResolve(channel: string): ChannelOptions {
    const o = this.channelOptions(channel);
    if (!o) throw Errors.unknownChannel;
    return o;
  }

  async publish(req: ApiPublishRequest): Promise<ApiPublishResult> {
    const o = this.mustResolve(req.channel);
    const pos = await this.publishToChannel(req.channel, req.data, o, {
      skipHistory: req.skipHistory,
      tags: req.tags,
      idempotencyKey: req.idempotencyKey,
      delta: req.delta,
      version: req.version,
      versionEpoch: req.versionEpoch,
      clientInfo: req.clientInfo,
    });
    if (pos.offset > 0 || pos.epoch) return { offset: pos.offset, epoch: pos.epoch };
    return {};
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const o = this.mustResolve(channel);
    if (!o.presence) throw Errors.notAvailable;
    this.traffic.actions.presence++;
    return this.presenceManager.presence(channel);
  }

  async presenceStats(channel: string): Promise<{ num_clients: number; num_users: number }> {
    const o = this.mustResolve(channel);
    if (!o.presence) throw Errors.notAvailable;
    this.traffic.actions.presence_stats++;
    const s = await this.presenceManager.presenceStats(channel);
    return { num_clients: s.numClients, num_users: s.numUsers };
  }

  async history(req: ApiHistoryRequest): Promise<ApiHistoryResult> {
    const o = this.mustResolve(req.channel);
    if (!historyEnabled(o)) throw Errors.notAvailable;
    return this.readHistory(req.channel, o, { limit: req.limit, since: req.since, reverse: req.reverse, maxLimit: 0 });
  }

  async sharedPollPublish(req: ApiSharedPollPublishRequest): Promise<void> {
    const o = this.mustResolve(req.channel);
    if (o.subscription_type !== 'shared_poll') throw Errors.badRequest;
    const pub = { key: req.key, version: req.version, data: req.data, ...(req.epoch ? { epoch: req.epoch } : {}) };
    this.sharedPoll.engine.publish(req.channel, this.sharedPoll.config(o), pub);
  }

  async historyRemove(channel: string): Promise<void> {
    const o = this.mustResolve(channel);
    if (!historyEnabled(o)) throw Errors.notAvailable;
    this.traffic.actions.history_remove++;
    await this.broker.removeHistory(channel);
  }

  /** Connections a user-targeted command applies to; a client id alone selects that connection. */
  private select(sel: ConnectionSelector): ClientSession[] {
    if (sel.client) {
      const c = this.hub.client(sel.client);
      if (!c || (sel.user && c.userId !== sel.user) || (sel.session && c.sessionId !== sel.session)) return [];
      return [c];
    }
    const out: ClientSession[] = [];
    for (const c of this.hub.userClients(sel.user ?? '')) {
      if (sel.session && c.sessionId !== sel.session) continue;
      out.push(c);
    }
    return out;
  }

  async subscribe(req: ApiSubscribeRequest): Promise<void> {
    if (!this.resolver.resolve(req.channel)) throw Errors.unknownChannel;
    await Promise.all([this.localSubscribe(req), this.cluster?.broadcast('subscribe', req)]);
  }

  private async localSubscribe(req: ApiSubscribeRequest): Promise<void> {
    const resolved = this.resolver.resolve(req.channel);
    if (!resolved) return;
    const input: ServerSubscribeInput = {
      channel: req.channel,
      override: req.override,
      recover: !!req.recoverSince,
      offset: req.recoverSince?.offset ?? 0,
      epoch: req.recoverSince?.epoch ?? '',
      expireAt: req.expireAt ?? 0,
      chanInfo: req.info,
      data: req.data,
    };
    await Promise.all(this.select(req).map((c) => addServerSubscription(c, resolved, input)));
  }

  async unsubscribe(sel: ConnectionSelector & { channel: string }): Promise<void> {
    if (sel.channel && !this.resolver.resolve(sel.channel)) throw Errors.unknownChannel;
    this.localUnsubscribe(sel);
    await this.cluster?.broadcast('unsubscribe', sel);
  }

  private localUnsubscribe(sel: ConnectionSelector & { channel: string }): void {
    for (const c of this.select(sel)) c.serverUnsubscribe(sel.channel, Unsubscribes.server);
  }

  async disconnect(req: ApiDisconnectRequest): Promise<void> {
    this.localDisconnect(req);
    await this.cluster?.broadcast('disconnect', req);
  }

  private localDisconnect(req: ApiDisconnectRequest): void {
    const keep = new Set(req.whitelist ?? []);
    const d = new Disconnect(req.code, req.reason);
    for (const c of this.select(req)) if (!keep.has(c.id)) c.close(d);
  }

  async refresh(req: ApiRefreshRequest): Promise<void> {
    this.localRefresh(req);
    await this.cluster?.broadcast('refresh', req);
  }

  private localRefresh(req: ApiRefreshRequest): void {
    for (const c of this.select(req)) {
      if (req.expired) {
        c.close(Disconnects.expired);
        continue;
      }
      c.applyRefresh(req.info, req.expireAt);
    }
  }

  async channels(): Promise<Record<string, { num_clients: number }>> {
    const out: Record<string, { num_clients: number }> = {};
    for (const [ch, n] of this.hub.channelCounts()) out[ch] = { num_clients: n };
    for (const answer of await this.survey('channels')) {
      for (const [ch, n] of Object.entries((answer ?? {}) as Record<string, number>)) {
        out[ch] = { num_clients: (out[ch]?.num_clients ?? 0) + n };
      }
    }
    return out;
  }

  /**
   * Asks every other live node (none without a controller) and resolves with their answers;
   * counted as the `survey` action and timed from the call to the last answer (`survey` event).
   */
  private async survey(op: string): Promise<unknown[]> {
    this.traffic.actions.survey++;
    const started = performance.now();
    try {
      return (await this.cluster?.survey(op, {})) ?? [];
    } finally {
      this.events.emit('survey', { op, durationMs: performance.now() - started });
    }
  }

  async info(): Promise<{ nodes: NodeInfo[] }> {
    return { nodes: [this.localInfo(), ...(this.cluster?.remoteNodes() ?? [])] };
  }

  /**
   * Sets where `info` reads this node's async consumers from (the server's consumers). The
   * function is called on every `info` and cluster heartbeat, so it must be cheap.
   */
  setConsumersSource(source: () => NodeConsumerInfo[]): void {
    this.consumersSource = source;
  }

  /** This node's async consumers (empty when it runs none). */
  consumers(): NodeConsumerInfo[] {
    return this.consumersSource?.() ?? [];
  }

  /** This node's own counters, as announced to the cluster. */
  localInfo(): NodeInfo {
    const consumers = this.consumers();
    const info: NodeInfo = {
      uid: this.id,
      name: this.name,
      version: this.version,
      num_clients: this.hub.numClients,
      num_users: this.hub.numUsers,
      num_channels: this.hub.numChannels,
      num_subs: this.hub.numSubscriptions,
      uptime: Math.floor((this.clock.now() - this.startedAt) / 1000),
    };
    if (consumers.length > 0) info.consumers = consumers;
    return info;
  }

  /** ClusterMember: a user command broadcast by another node's server API. */
  async applyCommand(kind: string, body: unknown): Promise<void> {
    switch (kind) {
      case 'subscribe':
        return this.localSubscribe(body as ApiSubscribeRequest);
      case 'unsubscribe':
        return this.localUnsubscribe(body as ConnectionSelector & { channel: string });
      case 'disconnect':
        return this.localDisconnect(body as ApiDisconnectRequest);
      case 'refresh':
        return this.localRefresh(body as ApiRefreshRequest);
      default: {
        const h = this.controlHandlers.get(kind);
        if (h) await h(body);
        else this.logger.debug({ kind }, 'unknown control command');
      }
    }
  }

  /**
   * Registers the handler of a node-addressed control message kind (for example emulation
   * commands forwarded from the node that received them).
   */
  onControl(kind: string, handler: (body: unknown) => Promise<void> | void): void {
    this.controlHandlers.set(kind, handler);
  }

  /** Sends a control message to another live node; false when there is no such node. */
  async sendToNode(nodeId: string, kind: string, body: unknown): Promise<boolean> {
    if (!this.cluster || !this.cluster.knows(nodeId)) return false;
    await this.cluster.sendTo(nodeId, kind, body);
    return true;
  }

  /** ClusterMember: answers surveys from other nodes. */
  async answerSurvey(op: string): Promise<unknown> {
    if (op === 'channels') return Object.fromEntries(this.hub.channelCounts());
    return null;
  }

  /** Disconnects every client with 3001 (they reconnect elsewhere) and closes the ports. */
  async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.cluster?.close();
    for (const c of [...this.hub.allClients()]) c.close(Disconnects.shutdown);
    this.sharedPoll.close();
    this.wheel.close();
    await Promise.allSettled([this.broker.close(), this.presenceManager.close(), this.mapBroker?.close()]);
  }
}

/**
 * The hub's encoder. Delta-negotiated subscribers on JSON get `data` as a JSON string, full
 * payload and patch alike (subscriptions.md §3.2); Protobuf carries the bytes as they are.
 */
function encodePushVariant(framing: PushFraming, reply: Reply, mode: DeliveryMode): Uint8Array | undefined {
  if (mode === DeliveryModes.plain || framing === 'protobuf' || framing === 'protobuf-uni') return encodeOrUndefined(framing, reply);
  const push = reply.push!;
  const pub = push.pub!;
  // A map removal has no payload: "null" parses on the client, where "" would not (§3.2).
  const data = pub.removed ? JSON_NULL : (pub.data ?? new Uint8Array(0));
  return encodeOrUndefined(framing, { push: { ...push, pub: { ...pub, data: jsonStringData(data) } } });
}

const JSON_NULL = new TextEncoder().encode('null');

function encodeOrUndefined(framing: PushFraming, reply: Reply): Uint8Array | undefined {
  try {
    // Unidirectional transports carry the bare Push; every other transport the Reply around it.
    if (framing === 'json-uni' || framing === 'protobuf-uni') return codecFor(framing === 'json-uni' ? 'json' : 'protobuf').encodePush(reply.push ?? {});
    return codecFor(framing).encodeReply(reply);
  } catch (err) {
    if (err instanceof CodecError) return undefined;
    throw err;
  }
}
