/**
 * The stream kind (subscription type 0, subscriptions.md §1–§4): the subscribe flow, install
 * with positioning and recovery, live delivery from the hub, going live after the reply, and
 * what removal releases. Subscriptions fed by a subscribe stream proxy are stream subscriptions
 * too (stream-proxy.ts installs and feeds them; they have no hub entry).
 *
 * Live delivery (`deliverStream`) is the per-publication hot path: no allocation, no closure.
 */
import { Disconnect, Disconnects, Errors, ProtocolError, Unsubscribes } from '../../../protocol/codes.js';
import type { Publication, Reply, SubscribeRequest, SubscribeResult } from '../../../protocol/types.js';
import type { BrokerPublication, StreamPosition } from '../../ports.js';
import type { NodeAction } from '../../traffic.js';
import type { ClientSession } from '../client.js';
import type { StreamSubscription } from '../subscription.js';
import { authorizeSubscribe, checkNewSubscription, reservePending, type SubscribePlan } from '../subscribe-plan.js';
import { startStreamDelivery, streamBindingFor, subscribeStreamed } from '../stream-proxy.js';
import type { KindOps } from './kind-ops.js';
import { deltaBatch } from '../../delta.js';

/** The subscribe command for a stream subscription: checks, reservation, permission, install; live after the reply. */
export async function subscribeStreamFlow(c: ClientSession, channel: string, req: SubscribeRequest): Promise<Reply> {
  checkNewSubscription(c, channel, req);
  // The reservation inline rather than through withPending: one asynchronous frame less per subscribe.
  const release = reservePending(c, channel);
  try {
    const binding = streamBindingFor(c, channel);
    if (binding) {
      const { result, sub } = await subscribeStreamed(c, channel, req, binding);
      c.onAfterReply(() => startStreamDelivery(c, sub));
      return { subscribe: result };
    }
    const plan = await authorizeSubscribe(c, channel, req);
    const { result, sub } = await installStream(c, plan);
    c.onAfterReply(() => goLive(c, sub));
    return { subscribe: result };
  } finally {
    release();
  }
}

/**
 * Right after the subscribe reply (or subscribe push) is queued: delivers what was buffered
 * meanwhile and publishes the join, without waiting for the broker.
 */
export function goLive(c: ClientSession, sub: StreamSubscription): void {
  finishStream(c, sub);
  if (sub.emitJoinLeave) {
    const node = c.node;
    node.traffic.brokerSent.join++;
    node.broker.publishJoin(sub.channel, sub.info).catch((err: unknown) => node.logger.warn({ channel: sub.channel, err }, 'join publish failed'));
  }
}

/**
 * Installs a subscription (left in the subscribing state, buffering live publications) and
 * computes its result, including recovery. On failure everything is rolled back. The caller
 * writes the result and then calls goLive (or finishStream).
 * Used by client subscribe commands and by server-side subscriptions (server-subs.ts).
 */
export async function installStream(c: ClientSession, plan: SubscribePlan): Promise<{ result: SubscribeResult; sub: StreamSubscription }> {
  const node = c.node;
  const channel = plan.channel;
  const sub: StreamSubscription = {
    kind: 'stream',
    channel,
    state: 'subscribing',
    serverSide: plan.serverSide,
    positioned: plan.positioned,
    recoverable: plan.recoverable,
    pushJoinLeave: plan.pushJoinLeave,
    emitJoinLeave: plan.emitJoinLeave,
    emitPresence: plan.emitPresence,
    offset: 0,
    epoch: '',
    buffer: [],
    expireAt: plan.expireAt,
    clientSideRefresh: plan.clientSideRefresh,
    info: c.clientInfo(plan.chanInfo),
    // In the literal, so setting it later finds a slot in the record (no out-of-object property array).
    announced: false,
  };
  // Set only when present, so the common record keeps one shape (both unset until the features land).
  if (plan.delta) sub.delta = true;
  if (plan.tagsFilter) sub.tagsFilter = plan.tagsFilter;
  c.subs.set(channel, sub);
  // The hub delivers by its own copy of the variant flags.
  node.hub.addSub(c, sub, sub.delta || sub.tagsFilter ? { deltaNegotiated: sub.delta, filter: sub.tagsFilter } : undefined);
  c.watchSubscription(sub);
  // If the connection closes while we wait, close() has already removed the entry and released
  // everything registered so far; `gone()` detects that so nothing is registered after it.
  const gone = (): boolean => c.subs.get(channel) !== sub;
  let presenceAdded = false;
  try {
    await node.acquireChannel(channel);
    if (gone()) throw Disconnects.connectionClosed;
    if (sub.emitPresence) {
      node.traffic.actions.add_presence++;
      await node.presenceManager.addPresence(channel, c.id, sub.info);
      presenceAdded = true;
      if (gone()) throw Disconnects.connectionClosed;
    }
    const result: SubscribeResult = {};
    if (plan.expireAt > 0 && plan.clientSideRefresh) {
      result.expires = true;
      result.ttl = Math.max(1, Math.min(Math.ceil(plan.expireAt - node.clock.now() / 1000), 31_536_000));
    }
    if (plan.data && plan.data.length > 0) result.data = plan.data;
    if (sub.delta) result.delta = true;
    if (plan.positioned) await position(c, plan, sub, result);
    if (gone()) throw Disconnects.connectionClosed;
    if (plan.recover) result.was_recovering = true;
    sub.announced = true;
    node.events.emit('subscribe', {
      channel,
      client: c.id,
      clientName: c.clientName,
      recover: plan.recover && plan.recoverable ? recoverOutcome(!!result.recovered, result.publications?.length ?? 0) : undefined,
    });
    return { result, sub };
  } catch (err) {
    if (!gone()) {
      c.subs.delete(channel);
      node.hub.removeSub(c, channel);
      node.releaseChannel(channel);
    }
    if (presenceAdded) {
      node.traffic.actions.remove_presence++;
      await node.presenceManager.removePresence(channel, c.id, c.userId).catch(() => undefined);
    }
    if (err instanceof ProtocolError || err instanceof Disconnect) throw err;
    node.faults.log('error', { client: c.id, channel, err }, 'subscribe failed');
    throw Disconnects.serverError;
  }
}

/** What a subscribe event reports about a recovery attempt. */
function recoverOutcome(recovered: boolean, publications: number): { recovered: boolean; hasPublications: boolean; publications: number } {
  return { recovered, hasPublications: publications > 0, publications };
}

/** How far back cache recovery looks for the newest publication a tags filter passes. */
const CACHE_FILTER_SCAN = 100;

/** Positioning and recovery (subscriptions.md §1.4–1.6), merging publications buffered meanwhile. */
async function position(c: ClientSession, plan: SubscribePlan, sub: StreamSubscription, result: SubscribeResult): Promise<void> {
  const node = c.node;
  const metaTtlMs = node.resolver.historyMetaTtlMs(plan.options);
  result.positioned = true;
  if (plan.recoverable) result.recoverable = true;
  let recovered = false;
  let publications: BrokerPublication[] = [];
  let top;
  const cacheMode = plan.options.force_recovery_mode === 'cache';
  if (plan.recoverable && plan.recover) {
    if (cacheMode) {
      // With a tags filter the newest publication that passes is the one to deliver (§4.3): read further back.
      const limit = sub.tagsFilter ? CACHE_FILTER_SCAN : 1;
      countRead(node.traffic.actions, 'history_recover_cache');
      const res = await node.broker.history(plan.channel, { filter: { limit, reverse: true }, metaTtlMs });
      top = res.position;
      const same = plan.offset > 0 && plan.offset === top.offset && plan.epoch === top.epoch;
      if (res.publications.length === 0) recovered = same;
      else {
        recovered = true;
        if (!same) publications = res.publications.slice().reverse();
      }
    } else {
      const limit = node.rules.recoveryMaxPublicationLimit;
      countRead(node.traffic.actions, 'history_recover');
      const res = await node.broker.history(plan.channel, {
        filter: { since: { offset: plan.offset, epoch: plan.epoch }, limit },
        metaTtlMs,
      });
      top = res.position;
      const pubs = res.publications;
      const epochOk = plan.epoch === '' || plan.epoch === top.epoch;
      if (epochOk) {
        if (pubs.length === 0) recovered = top.offset === plan.offset;
        else recovered = pubs[0]!.offset === plan.offset + 1 && pubs[pubs.length - 1]!.offset === top.offset;
      }
      if (recovered) publications = pubs;
      else if (plan.flag & 2) throw Errors.unrecoverablePosition;
    }
  } else {
    countRead(node.traffic.actions, 'history_stream_top');
    const res = await node.broker.history(plan.channel, { filter: { limit: 0 }, metaTtlMs });
    top = res.position;
  }

  // Merge publications that arrived live while the position was being read.
  const buffered = sub.buffer ?? [];
  let topOffset = top.offset;
  let merged = publications;
  if (buffered.length > 0) {
    const byOffset = new Map<number, BrokerPublication>();
    for (const p of publications) byOffset.set(p.offset, p);
    for (const b of buffered) {
      if (b.epoch && b.epoch !== top.epoch) throw Disconnects.insufficientState;
      if (b.pub.offset > topOffset) topOffset = b.pub.offset;
      if (recovered && b.pub.offset > plan.offset && !byOffset.has(b.pub.offset)) byOffset.set(b.pub.offset, b.pub);
    }
    if (recovered) {
      merged = [...byOffset.values()].sort((a, b) => a.offset - b.offset);
      let expect = plan.offset + 1;
      if (cacheMode && merged.length > 0) expect = merged[0]!.offset;
      for (const p of merged) {
        if (p.offset !== expect) throw Disconnects.insufficientState;
        expect++;
      }
    }
  }
  // Filtered publications count for continuity above, but are not delivered (§4.3, §4.4).
  const pass = sub.tagsFilter;
  if (pass) merged = merged.filter((p) => pass(p.tags));
  // A delta subscriber gets every merged publication: each is the base of the next (§3.5).
  if (cacheMode && merged.length > 1 && !sub.delta) merged = merged.slice(-1);
  sub.offset = topOffset;
  sub.epoch = top.epoch;
  result.epoch = top.epoch;
  result.offset = topOffset;
  if (recovered) {
    result.recovered = true;
    result.offset = plan.offset;
    if (merged.length > 0) {
      const pubs = merged.map(toWirePublication);
      result.publications = sub.delta ? deltaBatch(pubs, c.protocol === 'json') : pubs;
    }
  }
  // After a recovery the client holds the stream's newest publication (the last recovered one,
  // or its own last one when nothing was missed): live publications may go as patches at once.
  // A filter hides publications from the client only without delta, so its base is the stream's.
  if (sub.delta) node.hub.setDeltaBase(c, plan.channel, recovered);
}

/** A positioning read: counted as a history read and by its purpose. */
function countRead(actions: Record<NodeAction, number>, purpose: NodeAction): void {
  actions.history++;
  actions[purpose]++;
}

/** Converts a stored publication into its wire form for a subscribe or history result. */
export function toWirePublication(p: BrokerPublication): Publication {
  const out: Publication = { data: p.data, offset: p.offset || undefined };
  if (p.info) out.info = p.info;
  if (p.tags && Object.keys(p.tags).length > 0) out.tags = p.tags;
  return out;
}


/**
 * A live publication from the hub for one stream subscription of `c` (an open session).
 * `item` is the publication encoded for this subscriber's delivery variant, or undefined when
 * its tags filter rejected it: the position still advances (§4.4) but nothing is sent.
 * While subscribing, publications are buffered and merged by positioning, then by finishStream.
 * A gap or an epoch change ends the subscription with insufficient state.
 */
export function deliverStream(c: ClientSession, sub: StreamSubscription, pub: BrokerPublication, position: StreamPosition, item: Uint8Array | undefined): void {
  if (sub.state === 'subscribing') {
    sub.buffer?.push({ pub, item, epoch: position.epoch });
    return;
  }
  if (sub.positioned && pub.offset > 0) {
    if (sub.epoch && position.epoch && position.epoch !== sub.epoch) {
      insufficientState(c, sub);
      return;
    }
    if (pub.offset <= sub.offset) return;
    if (pub.offset > sub.offset + 1) {
      insufficientState(c, sub);
      return;
    }
    sub.offset = pub.offset;
    if (!sub.epoch) sub.epoch = position.epoch;
  }
  if (item !== undefined) c.enqueuePublication(item);
}

/** Moves a subscribing subscription live: buffered publications past its position follow the reply. */
export function finishStream(c: ClientSession, sub: StreamSubscription): void {
  const buffered = sub.buffer ?? [];
  sub.buffer = undefined;
  sub.state = 'subscribed';
  for (const b of buffered) {
    if (sub.positioned && b.pub.offset > 0) {
      if (b.pub.offset <= sub.offset) continue;
      if (b.pub.offset > sub.offset + 1) {
        insufficientState(c, sub);
        return;
      }
      sub.offset = b.pub.offset;
    }
    if (b.item !== undefined) c.enqueuePublication(b.item);
  }
  // From now on a delivery only queues (unpositioned ones): the hub may hand them out in runs.
  if (!sub.positioned && c.state !== 'closed' && c.subs.get(sub.channel) === sub) c.node.hub.subscriptionLive(c, sub);
}

/** The subscription lost its place in the stream: a server-side one disconnects (3010), a client one is unsubscribed (2500). */
function insufficientState(c: ClientSession, sub: StreamSubscription): void {
  if (sub.serverSide) {
    c.close(Disconnects.insufficientState);
    return;
  }
  c.serverUnsubscribe(sub.channel, Unsubscribes.insufficientState);
}

/** Removal: a proxied stream is cancelled; otherwise the hub entry and the node's broker interest go. */
function releaseStream(c: ClientSession, sub: StreamSubscription): void {
  if (sub.stream) {
    sub.stream.handle.close();
    return;
  }
  c.node.hub.removeSub(c, sub.channel);
  c.node.releaseChannel(sub.channel);
}

/** The stream kind's entry in the kinds table (kinds/index.ts). */
export const streamKind: KindOps<StreamSubscription> = {
  deliver: deliverStream,
  finish: finishStream,
  release: releaseStream,
};
