/**
 * Binds the configuration's proxies to the hooks core asks about (ProxyBindings):
 * `client.proxy.connect` / `refresh` when enabled; per namespace `subscribe_proxy_enabled`,
 * `publish_proxy_enabled`, `sub_refresh_proxy_enabled` with their `*_proxy_name` (`""` or
 * `default` = the `channel.proxy.*` block, anything else an entry of `proxies`); per RPC
 * namespace `proxy_enabled` / `proxy_name` (`rpc.proxy` or a named one); per namespace
 * `subscribe_stream_proxy_enabled` / `_name` / `_bidirectional` (`channel.proxy.subscribe_stream`);
 * per `shared_poll` namespace `shared_poll.proxy_name` (`channel.proxy.shared_poll_refresh`);
 * per namespace `map.publish_proxy_*` / `map.remove_proxy_*` (`channel.proxy.map_publish` / `map_remove`).
 * Each distinct proxy object is built once.
 */
import { Errors } from '../protocol/codes.js';
import type {
  ConnectProxy,
  MapPublishProxy,
  MapRemoveProxy,
  ProxyBindings,
  PublishProxy,
  RefreshProxy,
  RpcProxy,
  SharedPollRefreshProxy,
  SubRefreshProxy,
  SubscribeProxy,
  SubscribeStreamBinding,
  SubscribeStreamProxy,
} from '../core/index.js';

/** A proxy block as the config holds it (fields this module reads; the factory reads the rest). */
export interface ProxyBlock {
  endpoint?: string;
  [key: string]: unknown;
}

/** One proxy serving every hook kind (an HTTP or GRPC client); only GRPC ones serve subscribe streams. */
export type HookProxy = ConnectProxy &
  RefreshProxy &
  SubscribeProxy &
  PublishProxy &
  RpcProxy &
  SubRefreshProxy &
  MapPublishProxy &
  MapRemoveProxy &
  SharedPollRefreshProxy &
  Partial<SubscribeStreamProxy> & { close(): Promise<void> };

/** Builds the proxy for a block; undefined when its endpoint kind is not served (the hook then answers 108). */
export type ProxyFactory = (block: ProxyBlock, name: string) => HookProxy | undefined;

interface NamespaceProxyFlags {
  name?: string;
  subscribe_proxy_enabled?: boolean;
  subscribe_proxy_name?: string;
  publish_proxy_enabled?: boolean;
  publish_proxy_name?: string;
  sub_refresh_proxy_enabled?: boolean;
  sub_refresh_proxy_name?: string;
  subscribe_stream_proxy_enabled?: boolean;
  subscribe_stream_proxy_name?: string;
  subscribe_stream_proxy_bidirectional?: boolean;
  subscription_type?: string;
  shared_poll?: { proxy_name?: string };
  map?: { publish_proxy_enabled?: boolean; publish_proxy_name?: string; remove_proxy_enabled?: boolean; remove_proxy_name?: string };
}

interface RpcNamespaceFlags {
  name?: string;
  proxy_enabled?: boolean;
  proxy_name?: string;
}

/** The parts of the configuration that name proxies. */
export interface ProxyConfigSource {
  client?: { proxy?: { connect?: ProxyBlock & { enabled?: boolean }; refresh?: ProxyBlock & { enabled?: boolean } } };
  channel?: {
    proxy?: {
      subscribe?: ProxyBlock;
      publish?: ProxyBlock;
      sub_refresh?: ProxyBlock;
      subscribe_stream?: ProxyBlock;
      shared_poll_refresh?: ProxyBlock;
      map_publish?: ProxyBlock;
      map_remove?: ProxyBlock;
    };
    without_namespace?: NamespaceProxyFlags;
    namespaces?: readonly NamespaceProxyFlags[];
  };
  rpc?: {
    proxy?: ProxyBlock;
    without_namespace?: RpcNamespaceFlags;
    namespaces?: readonly RpcNamespaceFlags[];
    namespace_boundary?: string;
  };
  proxies?: readonly (ProxyBlock & { name?: string })[];
}

/** Answers 108 (not available): a hook whose proxy kind is configured but not served. */
const unavailable: HookProxy = {
  connect: () => Promise.reject(Errors.notAvailable),
  refresh: () => Promise.reject(Errors.notAvailable),
  subscribe: () => Promise.reject(Errors.notAvailable),
  publish: () => Promise.reject(Errors.notAvailable),
  rpc: () => Promise.reject(Errors.notAvailable),
  subRefresh: () => Promise.reject(Errors.notAvailable),
  mapPublish: () => Promise.reject(Errors.notAvailable),
  mapRemove: () => Promise.reject(Errors.notAvailable),
  sharedPollRefresh: () => Promise.reject(Errors.notAvailable),
  subscribeStream: () => Promise.reject(Errors.notAvailable),
  close: () => Promise.resolve(),
};

/** A proxy as a stream proxy; one that cannot stream (HTTP) answers 108 (not available). */
function streamCapable(p: HookProxy): SubscribeStreamProxy {
  if (p.subscribeStream) return p as SubscribeStreamProxy;
  return { name: p.name, protocol: p.protocol, subscribeStream: () => Promise.reject(Errors.notAvailable) };
}

/** Proxy bindings plus the proxies they hold, to close at shutdown. */
export interface BuiltProxies {
  bindings: ProxyBindings;
  close(): Promise<void>;
}

/** Builds the bindings; a namespace naming a proxy that does not exist is a config error caught by validation. */
export function buildProxyBindings(cfg: ProxyConfigSource, factory: ProxyFactory): BuiltProxies {
  const built = new Map<ProxyBlock, HookProxy>();
  const make = (block: ProxyBlock | undefined, name: string): HookProxy | undefined => {
    if (!block || !block.endpoint) return undefined;
    let p = built.get(block);
    if (p === undefined) {
      p = factory(block, name) ?? unavailable;
      built.set(block, p);
    }
    return p;
  };
  const named = new Map<string, ProxyBlock>();
  for (const p of cfg.proxies ?? []) if (p.name) named.set(p.name, p);
  const pick = (defaultBlock: ProxyBlock | undefined, name: string | undefined): HookProxy | undefined => {
    if (!name || name === 'default') return make(defaultBlock, 'default');
    return make(named.get(name), name);
  };

  const ch = cfg.channel ?? {};
  const namespaces: NamespaceProxyFlags[] = [{ ...(ch.without_namespace ?? {}), name: '' }, ...(ch.namespaces ?? [])];
  const subscribe = new Map<string, SubscribeProxy>();
  const publish = new Map<string, PublishProxy>();
  const subRefresh = new Map<string, SubRefreshProxy>();
  const streams = new Map<string, SubscribeStreamBinding>();
  const sharedPoll = new Map<string, SharedPollRefreshProxy>();
  const mapPublish = new Map<string, MapPublishProxy>();
  const mapRemove = new Map<string, MapRemoveProxy>();
  for (const ns of namespaces) {
    const key = ns.name ?? '';
    const s = ns.subscribe_proxy_enabled ? (pick(ch.proxy?.subscribe, ns.subscribe_proxy_name) ?? unavailable) : undefined;
    if (s) subscribe.set(key, s);
    const p = ns.publish_proxy_enabled ? (pick(ch.proxy?.publish, ns.publish_proxy_name) ?? unavailable) : undefined;
    if (p) publish.set(key, p);
    const r = ns.sub_refresh_proxy_enabled ? (pick(ch.proxy?.sub_refresh, ns.sub_refresh_proxy_name) ?? unavailable) : undefined;
    if (r) subRefresh.set(key, r);
    const st = ns.subscribe_stream_proxy_enabled ? (pick(ch.proxy?.subscribe_stream, ns.subscribe_stream_proxy_name) ?? unavailable) : undefined;
    if (st) streams.set(key, { proxy: streamCapable(st), bidirectional: !!ns.subscribe_stream_proxy_bidirectional });
    const m = ns.map ?? {};
    const mp = m.publish_proxy_enabled ? (pick(ch.proxy?.map_publish, m.publish_proxy_name) ?? unavailable) : undefined;
    if (mp) mapPublish.set(key, mp);
    const mr = m.remove_proxy_enabled ? (pick(ch.proxy?.map_remove, m.remove_proxy_name) ?? unavailable) : undefined;
    if (mr) mapRemove.set(key, mr);
    // A shared-poll namespace without its proxy fails every poll (logged), as an unreachable one would.
    if (ns.subscription_type === 'shared_poll') {
      const sp = pick(ch.proxy?.shared_poll_refresh, ns.shared_poll?.proxy_name);
      if (sp) sharedPoll.set(key, sp);
    }
  }

  const rpc = cfg.rpc ?? {};
  const rpcByNs = new Map<string, RpcProxy>();
  for (const ns of [{ ...(rpc.without_namespace ?? {}), name: '' }, ...(rpc.namespaces ?? [])]) {
    const p = ns.proxy_enabled ? (pick(rpc.proxy, ns.proxy_name) ?? unavailable) : undefined;
    if (p) rpcByNs.set(ns.name ?? '', p);
  }
  const boundary = rpc.namespace_boundary || ':';

  const client = cfg.client?.proxy ?? {};
  const connect = client.connect?.enabled ? make(client.connect, 'default') : undefined;
  const refresh = client.refresh?.enabled ? make(client.refresh, 'default') : undefined;
  const bindings: ProxyBindings = {
    // An endpoint kind Gyre does not serve yet leaves connect and refresh to tokens, as before.
    connect: connect === unavailable ? undefined : connect,
    refresh: refresh === unavailable ? undefined : refresh,
    subscribe: (ns) => subscribe.get(ns),
    publish: (ns) => publish.get(ns),
    subRefresh: (ns) => subRefresh.get(ns),
    subscribeStream: (ns) => streams.get(ns),
    sharedPollRefresh: (ns) => sharedPoll.get(ns),
    mapPublish: (ns) => mapPublish.get(ns),
    mapRemove: (ns) => mapRemove.get(ns),
    rpc: (method) => {
      const at = method.indexOf(boundary);
      return rpcByNs.get(at < 0 ? '' : method.slice(0, at));
    },
  };
  return {
    bindings,
    close: async () => {
      await Promise.all([...built.values()].map((p) => p.close()));
    },
  };
}
