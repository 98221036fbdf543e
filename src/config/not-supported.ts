import type { ChannelOptionsConfig, GyreConfig, ProxyConfig } from './types.js';

/** Namespace proxy flags Gyre serves over HTTP and GRPC, with the channel.proxy block their `default` name means. */
const SERVED_CHANNEL_PROXIES = [
  ['subscribe_proxy_enabled', 'subscribe_proxy_name', 'subscribe'],
  ['publish_proxy_enabled', 'publish_proxy_name', 'publish'],
  ['sub_refresh_proxy_enabled', 'sub_refresh_proxy_name', 'sub_refresh'],
  // Gyre's lifecycle notifications.
  ['state_proxy_enabled', 'state_proxy_name', 'state'],
  ['unsubscribe_proxy_enabled', 'unsubscribe_proxy_name', 'unsubscribe'],
] as const;

/** `channel.proxy` blocks Gyre calls (the subscribe stream block only over GRPC, checked apart). */
const CALLABLE_CHANNEL_PROXIES = new Set(['subscribe', 'publish', 'sub_refresh', 'state', 'unsubscribe', 'shared_poll_refresh', 'map_publish', 'map_remove']);

/** Consumer types Gyre runs (the server builds exactly these; a test holds the two equal). */
export const SERVED_CONSUMERS: ReadonlySet<string> = new Set(['rabbitmq', 'nats_jetstream', 'redis_stream', 'postgresql']);

/** Proxy blocks Gyre calls: any endpoint (http(s):// over HTTP, anything else over GRPC). */
function served(p: ProxyConfig | undefined): boolean {
  return p !== undefined && p.endpoint !== '';
}

/** The subscribe stream proxy exists over GRPC only: an http(s) endpoint cannot serve it. */
function streamServed(p: ProxyConfig | undefined): boolean {
  return served(p) && !/^https?:\/\//i.test(p?.endpoint ?? '');
}

function proxyDefined(p: ProxyConfig): boolean {
  return p.endpoint !== '';
}

/** The proxy a `*_proxy_name` designates: `""`/`default` is the given block, else an entry of `proxies`. */
function namedProxy(config: GyreConfig, byDefault: ProxyConfig, name: string): ProxyConfig | undefined {
  return name === '' || name === 'default' ? byDefault : config.proxies.find((p) => p.name === name);
}

function channelOptions(config: GyreConfig, o: ChannelOptionsConfig, path: string, out: string[]): void {
  const servedTypes = ['', 'stream', 'map', 'map_clients', 'map_users', 'shared_poll'];
  if (!servedTypes.includes(o.subscription_type)) out.push(`${path}.subscription_type`);
  for (const [flag, name, block] of SERVED_CHANNEL_PROXIES) {
    if (o[flag] && !served(namedProxy(config, config.channel.proxy[block], o[name]))) out.push(`${path}.${flag}`);
  }
  if (o.subscribe_stream_proxy_enabled && !streamServed(namedProxy(config, config.channel.proxy.subscribe_stream, o.subscribe_stream_proxy_name))) {
    out.push(`${path}.subscribe_stream_proxy_enabled`);
  }
  if (o.map.publish_proxy_enabled && !served(namedProxy(config, config.channel.proxy.map_publish, o.map.publish_proxy_name))) {
    out.push(`${path}.map.publish_proxy_enabled`);
  }
  if (o.map.remove_proxy_enabled && !served(namedProxy(config, config.channel.proxy.map_remove, o.map.remove_proxy_name))) {
    out.push(`${path}.map.remove_proxy_enabled`);
  }
}

/**
 * Lists, as `"<dotted path>: not supported yet"`, every part of a loaded configuration that
 * turns on a feature Gyre does not implement yet. Such configs still load and start; the
 * server logs these at WARN. Order follows the config tree.
 */
export function notSupportedWarnings(config: GyreConfig): string[] {
  const out: string[] = [];
  const hs = config.http_server;
  if (hs.http3.enabled) out.push('http_server.http3');
  if (config.engine.type !== 'memory' && config.engine.type !== 'redis') out.push('engine.type');
  if (config.broker.enabled && !['memory', 'redis', 'nats', 'postgres'].includes(config.broker.type)) out.push('broker.type');
  if (config.presence_manager.enabled && !['memory', 'redis'].includes(config.presence_manager.type)) out.push('presence_manager.type');
  if (!['memory', 'redis', 'postgres'].includes(config.map_broker.type)) out.push('map_broker.type');
  if (config.controller.enabled && config.controller.type !== 'postgres') out.push('controller');
  const client = config.client;
  if (client.proxy.connect.enabled && !served(client.proxy.connect)) out.push('client.proxy.connect');
  if (client.proxy.refresh.enabled && !served(client.proxy.refresh)) out.push('client.proxy.refresh');
  if (client.proxy.disconnect.enabled && !served(client.proxy.disconnect)) out.push('client.proxy.disconnect');
  for (const [name, p] of Object.entries(config.channel.proxy)) {
    const callable = CALLABLE_CHANNEL_PROXIES.has(name);
    if (proxyDefined(p) && !(callable || (name === 'subscribe_stream' && streamServed(p)))) out.push(`channel.proxy.${name}`);
  }
  channelOptions(config, config.channel.without_namespace, 'channel.without_namespace', out);
  config.channel.namespaces.forEach((ns, i) => channelOptions(config, ns, `channel.namespaces[${i}]`, out));
  if (proxyDefined(config.rpc.proxy) && !served(config.rpc.proxy)) out.push('rpc.proxy');
  const rpcServed = (name: string): boolean => served(namedProxy(config, config.rpc.proxy, name));
  if (config.rpc.without_namespace.proxy_enabled && !rpcServed(config.rpc.without_namespace.proxy_name)) out.push('rpc.without_namespace.proxy_enabled');
  config.rpc.namespaces.forEach((ns, i) => {
    if (ns.proxy_enabled && !rpcServed(ns.proxy_name)) out.push(`rpc.namespaces[${i}].proxy_enabled`);
  });
  config.consumers.forEach((c, i) => {
    if (c.enabled && !SERVED_CONSUMERS.has(c.type)) out.push(`consumers[${i}]`);
  });
  if (config.webtransport.enabled) out.push('webtransport');
  if (config.opentelemetry.google_cloud_adc_auth) out.push('opentelemetry.google_cloud_adc_auth');
  return out.map((path) => `${path}: not supported yet`);
}
