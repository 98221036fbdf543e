/** The publish command: namespace rules (or the embedding hook), data format, then the broker. */
import { Disconnects, Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import { validateDataFormat } from '../data-format.js';
import type { ClientSession } from './client.js';
import { hasAccess } from './subscribe-plan.js';
import { callProxy, proxyClientOf } from './proxy-calls.js';
import type { PublishProxyOptions } from '../proxy-ports.js';
import { publishToStream } from './stream-proxy.js';
import { handleMapPublish } from './kinds/map.js';

export async function handlePublish(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.publish!;
  const channel = req.channel ?? '';
  if (channel === '') throw Disconnects.badRequest;
  if (req.type === 1) return handleMapPublish(c, req);
  if (req.type) throw Errors.notAvailable;
  const node = c.node;
  const resolved = node.resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!node.resolver.validName(channel, resolved)) throw Errors.badRequest;
  const opts = resolved.options;
  let data = req.data ?? new Uint8Array(0);
  if (!validateDataFormat(node.resolver.dataFormat(opts), data)) throw Errors.badRequest;
  // A bidirectional stream subscription takes the client's publications up to the backend.
  if (publishToStream(c, channel, data)) return { publish: {} };

  let allowed = false;
  let extra: PublishProxyOptions = {};
  if (node.handlers.onPublish) {
    const r = await node.handlers.onPublish({ client: c, channel, data });
    if (r) {
      allowed = true;
      if (r.data) data = r.data;
    }
  }
  // The namespace's publish proxy, when it has one, replaces the allow_publish_* rules.
  const proxy = allowed ? undefined : node.proxies.publish(resolved.namespace);
  if (proxy) {
    const r = await callProxy(c, 'publish', proxy, () => proxy.publish({ ...proxyClientOf(c), channel, data }));
    allowed = true;
    if (r.data) data = r.data;
    extra = {
      skipHistory: r.skipHistory,
      tags: r.tags,
      idempotencyKey: r.idempotencyKey,
      delta: r.delta,
      version: r.version,
      versionEpoch: r.versionEpoch,
    };
  }
  if (!allowed) {
    const sub = c.subs.get(channel);
    const subscribed = !!sub && sub.state === 'subscribed';
    allowed = hasAccess(c, opts.allow_publish_for_client, opts.allow_publish_for_subscriber, opts.allow_publish_for_anonymous, subscribed);
  }
  if (!allowed) throw Errors.permissionDenied;
  const sub = c.subs.get(channel);
  await node.publishToChannel(channel, data, resolved.options, { ...extra, clientInfo: c.clientInfo(sub?.info.chan_info) });
  return { publish: {} };
}
