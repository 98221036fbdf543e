/**
 * Wires Gyre's lifecycle notifications (docs/proxies.md, "Lifecycle notifications"):
 * - disconnect notifications (`client.proxy.disconnect`) for every connection that closes,
 * - unsubscribe notifications (`channel.proxy.unsubscribe`, namespace
 *   `unsubscribe_proxy_enabled` / `unsubscribe_proxy_name`) for every subscription that ends,
 * - channel state events (`channel.proxy.state`, namespace `state_proxy_enabled` /
 *   `state_proxy_name`): occupied / vacated through a ChannelStateStore (memory or Redis).
 * The node's own events feed it (the same points that call the embedding hooks onDisconnect and
 * onUnsubscribe, with the same codes and reasons); each proxy gets one EventSink per kind.
 */
import { createChannelStateStore, type RedisConnectionOptions } from '../brokers/index.js';
import {
  ChannelStateTracker,
  LogLimiter,
  type ChannelStateEvent,
  type DisconnectEvent,
  type Logger,
  type Node,
  type SubscribeEvent,
  type UnsubscribeEvent,
} from '../core/index.js';
import { EventSink, GrpcEventSender, HttpEventPoster, type BatchSender } from '../proxy/index.js';
import type { ProxyBlock } from './proxy-bindings.js';
import { proxyTimeoutMs } from './proxies.js';

interface NamespaceFlags {
  name?: string;
  presence?: boolean;
  state_proxy_enabled?: boolean;
  state_proxy_name?: string;
  unsubscribe_proxy_enabled?: boolean;
  unsubscribe_proxy_name?: string;
}

/** The parts of the configuration this module reads (the loaded config satisfies it). */
export interface LifecycleConfigSource {
  client?: { proxy?: { disconnect?: ProxyBlock & { enabled?: boolean } } };
  channel?: {
    proxy?: { state?: ProxyBlock; unsubscribe?: ProxyBlock };
    without_namespace?: NamespaceFlags;
    namespaces?: readonly NamespaceFlags[];
  };
  proxies?: readonly (ProxyBlock & { name?: string })[];
  channel_state?: { vacated_event_delay?: number };
  engine?: { type?: string; redis?: object };
  broker?: { enabled?: boolean; type?: string; redis?: object };
}

/** Wire shape of a disconnect notification: exactly these fields. */
export interface DisconnectNotification {
  type: 'disconnect';
  client: string;
  user: string;
  code: number;
  reason: string;
  transport: string;
  time_ms: number;
}

/** Wire shape of an unsubscribe notification: exactly these fields. */
export interface UnsubscribeNotification {
  type: 'unsubscribe';
  client: string;
  user: string;
  channel: string;
  code: number;
  reason: string;
  time_ms: number;
}

type Kind = 'disconnect' | 'unsubscribe' | 'state';

/** Default drain time at shutdown. */
const DRAIN_MS = 3000;

/** Builds, starts and closes the notification sinks and the channel state tracker. */
export class LifecycleEvents {
  private readonly sinks = new Map<string, EventSink<object>>();
  private readonly closers: (() => Promise<void>)[] = [];
  private readonly listeners: [string, (...args: any[]) => void][] = [];
  private readonly disconnectSink: EventSink<DisconnectNotification> | undefined;
  private readonly unsubscribeByNs = new Map<string, EventSink<UnsubscribeNotification>>();
  private readonly stateByNs = new Map<string, EventSink<ChannelStateEvent>>();
  private readonly tracker: ChannelStateTracker | undefined;
  private readonly log: LogLimiter;
  private started = false;

  constructor(
    private readonly node: Node,
    cfg: LifecycleConfigSource,
    private readonly logger: Logger,
  ) {
    this.log = new LogLimiter(logger);
    const named = new Map<string, ProxyBlock>();
    for (const p of cfg.proxies ?? []) if (p.name) named.set(p.name, p);
    const pick = (defaultBlock: ProxyBlock | undefined, name: string | undefined): [ProxyBlock | undefined, string] =>
      !name || name === 'default' ? [defaultBlock, 'default'] : [named.get(name), name];

    const d = cfg.client?.proxy?.disconnect;
    if (d?.enabled) this.disconnectSink = this.sink<DisconnectNotification>('disconnect', d, 'default');

    const ch = cfg.channel ?? {};
    const namespaces: NamespaceFlags[] = [{ ...(ch.without_namespace ?? {}), name: '' }, ...(ch.namespaces ?? [])];
    for (const ns of namespaces) {
      const key = ns.name ?? '';
      if (ns.unsubscribe_proxy_enabled) {
        const [block, name] = pick(ch.proxy?.unsubscribe, ns.unsubscribe_proxy_name);
        const s = this.sink<UnsubscribeNotification>('unsubscribe', block, name);
        if (s) this.unsubscribeByNs.set(key, s);
      }
      if (ns.state_proxy_enabled) {
        const [block, name] = pick(ch.proxy?.state, ns.state_proxy_name);
        const s = this.sink<ChannelStateEvent>('state', block, name);
        if (s) this.stateByNs.set(key, s);
      }
    }

    if (this.stateByNs.size > 0) {
      const delay = vacatedDelayMs(cfg);
      const redis = redisSection(cfg);
      const store = createChannelStateStore(redis ? 'redis' : 'memory', { vacatedDelayMs: delay, redis, logger });
      this.tracker = new ChannelStateTracker(store, {
        tracked: (channel) => this.stateSink(channel) !== undefined,
        onEvent: (ev) => this.stateSink(ev.channel)?.push(ev),
        logger,
      });
    }
  }

  /** Starts listening to the node. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.disconnectSink) {
      const sink = this.disconnectSink;
      this.on('disconnect', (e: DisconnectEvent) => {
        if (!e.announced) return;
        sink.push({ type: 'disconnect', client: e.client, user: e.user, code: e.code, reason: e.reason, transport: e.transport, time_ms: this.node.clock.now() });
      });
    }
    if (this.unsubscribeByNs.size > 0) {
      this.on('unsubscribe', (e: UnsubscribeEvent) => {
        if (!e.announced) return;
        const sink = this.byNamespace(this.unsubscribeByNs, e.channel);
        sink?.push({ type: 'unsubscribe', client: e.client, user: e.user, channel: e.channel, code: e.code, reason: e.reason, time_ms: this.node.clock.now() });
      });
    }
    const tracker = this.tracker;
    if (tracker) {
      tracker.start();
      this.on('subscribe', (e: SubscribeEvent) => tracker.subscribed(e.channel));
      this.on('unsubscribe', (e: UnsubscribeEvent) => {
        if (e.announced) tracker.unsubscribed(e.channel);
      });
    }
  }

  /**
   * Call after the node disconnected its clients: the tracker reports what it still can (the
   * memory store: pending vacated events), then every sink drains for a bounded time.
   */
  async close(): Promise<void> {
    for (const [event, fn] of this.listeners) this.node.events.off(event, fn);
    this.listeners.length = 0;
    await this.tracker?.close();
    await Promise.all([...this.sinks.values()].map((s) => s.close(DRAIN_MS)));
    await Promise.all(this.closers.map((c) => c()));
  }

  private on(event: string, fn: (...args: any[]) => void): void {
    this.node.events.on(event, fn);
    this.listeners.push([event, fn]);
  }

  private stateSink(channel: string): EventSink<ChannelStateEvent> | undefined {
    return this.byNamespace(this.stateByNs, channel);
  }

  private byNamespace<T>(map: Map<string, T>, channel: string): T | undefined {
    const r = this.node.resolver.resolve(channel);
    return r ? map.get(r.namespace) : undefined;
  }

  /** One sink per (kind, proxy block); undefined (with a warning) when the block has no endpoint. */
  private sink<E extends object>(kind: Kind, block: ProxyBlock | undefined, name: string): EventSink<E> | undefined {
    if (!block?.endpoint) {
      this.logger.warn({ kind, proxy: name }, 'lifecycle notifications enabled without a proxy endpoint; none are sent');
      return undefined;
    }
    const key = `${kind}\u0000${name}`;
    const existing = this.sinks.get(key);
    if (existing) return existing as unknown as EventSink<E>;
    const send = this.sender(kind, block);
    const sink = new EventSink<object>({
      type: kind,
      name,
      send: async (events) => {
        const labels = { type: kind, name, protocol: /^https?:\/\//i.test(block.endpoint ?? '') ? 'http' : 'grpc' };
        const started = performance.now();
        this.node.events.emit('proxy_start', labels);
        let failed = false;
        try {
          await send(events);
        } catch (err) {
          failed = true;
          throw err;
        } finally {
          this.node.events.emit('proxy', { ...labels, durationMs: performance.now() - started, failed });
        }
      },
      log: this.log,
      onDrop: (count) => this.node.events.emit('proxy_events_dropped', { type: kind, name, count }),
    });
    this.sinks.set(key, sink);
    return sink as unknown as EventSink<E>;
  }

  private sender(kind: Kind, block: ProxyBlock): BatchSender<object> {
    const endpoint = block.endpoint ?? '';
    const timeoutMs = proxyTimeoutMs(block.timeout);
    if (/^https?:\/\//i.test(endpoint)) {
      const http = (block.http ?? {}) as { static_headers?: Record<string, string>; tls?: Record<string, any> };
      const tls = http.tls ?? {};
      const poster = new HttpEventPoster({
        endpoint,
        timeoutMs,
        staticHeaders: http.static_headers,
        tls: tls.enabled
          ? { ca: tls.server_ca_pem || undefined, cert: tls.cert_pem || undefined, key: tls.key_pem || undefined, servername: tls.server_name || undefined, rejectUnauthorized: !tls.insecure_skip_verify }
          : undefined,
      });
      this.closers.push(() => poster.close());
      return (events) => poster.post(events);
    }
    const g = (block.grpc ?? {}) as { tls?: Record<string, any>; credentials_key?: string; credentials_value?: string; static_metadata?: Record<string, string>; compression?: boolean };
    const gtls = g.tls ?? {};
    const grpc = new GrpcEventSender(kind, {
      endpoint,
      timeoutMs,
      credentialsKey: g.credentials_key,
      credentialsValue: g.credentials_value,
      staticMetadata: g.static_metadata,
      compression: !!g.compression,
      tls: gtls.enabled
        ? { ca: gtls.server_ca_pem || undefined, cert: gtls.cert_pem || undefined, key: gtls.key_pem || undefined, servername: gtls.server_name || undefined, rejectUnauthorized: !gtls.insecure_skip_verify }
        : undefined,
    });
    this.closers.push(() => grpc.close());
    return (events) => grpc.send(events);
  }
}

/** `engine.redis.channel_state.vacated_event_delay` (PRO's spelling) wins when set, else `channel_state.vacated_event_delay` (5 s). */
export function vacatedDelayMs(cfg: LifecycleConfigSource): number {
  const alias = (cfg.engine?.redis as { channel_state?: { vacated_event_delay?: number } } | undefined)?.channel_state?.vacated_event_delay;
  if (typeof alias === 'number' && alias > 0) return alias;
  const v = cfg.channel_state?.vacated_event_delay;
  return typeof v === 'number' && v >= 0 ? v : 5000;
}

/** The Redis section nodes share (broker.redis when a separate Redis broker runs, else engine.redis with the Redis engine). */
function redisSection(cfg: LifecycleConfigSource): RedisConnectionOptions | undefined {
  if (cfg.broker?.enabled) return cfg.broker.type === 'redis' ? ((cfg.broker.redis ?? {}) as RedisConnectionOptions) : undefined;
  return cfg.engine?.type === 'redis' ? ((cfg.engine.redis ?? {}) as RedisConnectionOptions) : undefined;
}
