/**
 * Subscriptions fed by the subscribe stream proxy (integrations.md §2.6). In a namespace with
 * the stream proxy a client subscription opens one backend stream: its first message decides
 * the subscription like the subscribe proxy's answer, every later one is a publication for
 * this subscriber alone. The broker is not involved: no hub entry, no broker interest, no
 * history, positioning or recovery. A stream that ends or breaks unsubscribes the client with
 * 2500 "insufficient state" (the SDK subscribes again); unsubscribing or disconnecting cancels
 * the stream. In bidirectional mode the client's publications to the channel travel up the
 * stream instead of going to the broker. Server-side subscriptions never use it.
 */
import { Disconnect, Disconnects, Errors, ProtocolError, Unsubscribes } from '../../protocol/codes.js';
import type { Publication, SubscribeRequest, SubscribeResult } from '../../protocol/types.js';
import { ProxyCallError, type StreamPublication, type SubscribeStreamBinding } from '../proxy-ports.js';
import type { ClientSession } from './client.js';
import { callProxy, proxyClientOf } from './proxy-calls.js';
import type { StreamSubscription } from './subscription.js';

/** The stream proxy serving a client subscription to `channel`, if its namespace has one. */
export function streamBindingFor(c: ClientSession, channel: string): SubscribeStreamBinding | undefined {
  const lookup = c.node.proxies.subscribeStream;
  if (lookup === undefined) return undefined;
  const resolved = c.node.resolver.resolve(channel);
  return resolved ? lookup.call(c.node.proxies, resolved.namespace) : undefined;
}

/**
 * Opens the stream and installs the subscription (left subscribing). The backend's error or
 * disconnect in the first message passes to the client as it is; a stream that could not be
 * opened answers 100. The caller writes the result, then calls startStreamDelivery.
 */
export async function subscribeStreamed(
  c: ClientSession,
  channel: string,
  req: SubscribeRequest,
  binding: SubscribeStreamBinding,
): Promise<{ result: SubscribeResult; sub: StreamSubscription }> {
  const node = c.node;
  const resolved = node.resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!node.resolver.validName(channel, resolved)) throw Errors.badRequest;
  if ((req.type ?? 0) !== 0 || (resolved.options.subscription_type || 'stream') !== 'stream') throw Errors.permissionDenied;
  const proxy = binding.proxy;
  const handle = await callProxy(c, 'subscribe_stream', proxy, () =>
    proxy.subscribeStream({ ...proxyClientOf(c), channel, token: req.token || undefined, data: req.data, bidirectional: binding.bidirectional }),
  );
  if (c.state === 'closed') {
    handle.close();
    throw Disconnects.connectionClosed;
  }
  const r = handle.result;
  const emitPresence = r.override?.presence ?? !!resolved.options.presence;
  const sub: StreamSubscription = {
    kind: 'stream',
    channel,
    state: 'subscribing',
    serverSide: false,
    positioned: false,
    recoverable: false,
    pushJoinLeave: false,
    emitJoinLeave: false,
    emitPresence,
    offset: 0,
    epoch: '',
    // The stream's expiry is the stream's business: it ends the stream when the subscription should go.
    expireAt: 0,
    clientSideRefresh: false,
    info: c.clientInfo(r.info),
    stream: { handle, bidirectional: binding.bidirectional },
  };
  c.subs.set(channel, sub);
  c.watchSubscription(sub);
  try {
    if (emitPresence) {
      node.traffic.actions.add_presence++;
      await node.presenceManager.addPresence(channel, c.id, sub.info);
      if (c.subs.get(channel) !== sub) throw Disconnects.connectionClosed;
    }
  } catch (err) {
    if (c.subs.get(channel) === sub) c.subs.delete(channel);
    handle.close();
    if (err instanceof ProtocolError || err instanceof Disconnect) throw err;
    node.faults.log('error', { client: c.id, channel, err }, 'subscribe failed');
    throw Disconnects.serverError;
  }
  sub.announced = true;
  node.events.emit('subscribe', { channel, client: c.id, clientName: c.clientName, recover: undefined });
  const result: SubscribeResult = {};
  if (r.data && r.data.length > 0) result.data = r.data;
  return { result, sub };
}

/** Marks a streamed subscription live and starts handing the stream's publications to the client. */
export function startStreamDelivery(c: ClientSession, sub: StreamSubscription): void {
  const stream = sub.stream;
  if (!stream || c.subs.get(sub.channel) !== sub) return;
  sub.state = 'subscribed';
  const channel = sub.channel;
  stream.handle.start({
    publication: (p: StreamPublication) => {
      if (c.subs.get(channel) !== sub) return;
      const pub: Publication = { data: p.data };
      if (p.tags) pub.tags = p.tags;
      c.writeReply({ push: { channel, pub } }, 'push_publication');
    },
    end: (err?: unknown) => {
      if (c.subs.get(channel) !== sub) return;
      c.node.logger.debug({ client: c.id, channel, err: err instanceof Error ? err.message : undefined }, 'subscribe stream ended');
      c.serverUnsubscribe(channel, Unsubscribes.insufficientState);
    },
  });
}

/**
 * Sends a client publication up the channel's bidirectional stream. False when the client
 * has no bidirectional stream subscription to the channel (the publish takes its usual path).
 */
export function publishToStream(c: ClientSession, channel: string, data: Uint8Array): boolean {
  const sub = c.subs.get(channel);
  const stream = sub?.kind === 'stream' ? sub.stream : undefined;
  if (!sub || !stream || !stream.bidirectional || sub.state !== 'subscribed') return false;
  try {
    stream.handle.publish(data);
  } catch (err) {
    if (err instanceof ProxyCallError) {
      c.node.faults.log('warn', { client: c.id, channel, err: err.message }, 'stream publish failed', 'stream publish failed');
      throw Errors.internal;
    }
    throw err;
  }
  return true;
}
