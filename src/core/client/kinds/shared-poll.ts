/**
 * The shared-poll kind (subscription type 4; subscriptions.md §6): the subscribe flow (§6.3:
 * permission as for any subscription, the channel state's epoch, no hub entry for the
 * channel), track and untrack in sub_refresh (§6.4, §6.6) handed to the node's
 * SharedPollEngine, the engine's pushes encoded once per framing, and release on removal.
 */
import { CodecError, codecFor } from '../../../protocol/codec.js';
import { Disconnect, Disconnects, Errors, ProtocolError, Unsubscribes } from '../../../protocol/codes.js';
import type { Publication, Reply, SubRefreshRequest, SubscribeRequest, SubscribeResult } from '../../../protocol/types.js';
import { SubscribeTypes } from '../../../protocol/subscribe-types.js';
import type { PushFraming } from '../../hub.js';
import type { SharedPollPublication, SharedPollSubscriber, TrackBatch } from '../../shared-poll/engine.js';
import type { ClientSession } from '../client.js';
import type { SharedPollSubscription } from '../subscription.js';
import { authorizeSubscribe, checkNewSubscription, withPending } from '../subscribe-plan.js';
import type { KindOps } from './kind-ops.js';

/** The engine's handle for one connection's subscription to one channel. */
export class SharedPollHandle implements SharedPollSubscriber {
  readonly user: string;

  constructor(
    private readonly c: ClientSession,
    private readonly sub: SharedPollSubscription,
  ) {
    this.user = c.userId;
  }

  deliver(channel: string, pub: SharedPollPublication): void {
    const c = this.c;
    if (c.subs.get(channel) !== this.sub || c.state === 'closed') return;
    const item = encodedFor(c.framing, channel, pub);
    if (item === undefined) {
      c.node.faults.log('warn', { client: c.id, channel, key: pub.key }, 'shared poll publication cannot be encoded for the connection');
      return;
    }
    c.enqueuePublication(item);
  }

  resetState(channel: string): void {
    if (this.c.subs.get(channel) !== this.sub) return;
    this.c.serverUnsubscribe(channel, Unsubscribes.insufficientState);
  }
}

/**
 * Encodings of one publication per framing. The engine hands the same object to every
 * subscriber of a key, so the push is encoded at most once per framing; the entry goes with
 * the publication object.
 */
const encodings = new WeakMap<SharedPollPublication, Map<PushFraming, Uint8Array | null>>();

function encodedFor(framing: PushFraming, channel: string, pub: SharedPollPublication): Uint8Array | undefined {
  let byFraming = encodings.get(pub);
  if (byFraming === undefined) {
    byFraming = new Map();
    encodings.set(pub, byFraming);
  }
  let item = byFraming.get(framing);
  if (item === undefined) {
    item = encodePush(framing, channel, pub) ?? null;
    byFraming.set(framing, item);
  }
  return item ?? undefined;
}

function encodePush(framing: PushFraming, channel: string, pub: SharedPollPublication): Uint8Array | undefined {
  const wire: Publication = pub.removed ? { key: pub.key, removed: true } : { data: pub.data, key: pub.key, version: pub.version };
  const push = { channel, pub: wire };
  try {
    if (framing === 'json-uni' || framing === 'protobuf-uni') return codecFor(framing === 'json-uni' ? 'json' : 'protobuf').encodePush(push);
    return codecFor(framing).encodeReply({ push });
  } catch (err) {
    // Binary backend data cannot go to a JSON connection.
    if (err instanceof CodecError) return undefined;
    throw err;
  }
}

/** The subscribe command for a shared-poll subscription (§6.3). */
export async function subscribeSharedPollFlow(c: ClientSession, channel: string, req: SubscribeRequest): Promise<Reply> {
  checkNewSubscription(c, channel, req);
  return withPending(c, channel, async () => {
    const plan = await authorizeSubscribe(c, channel, req);
    const node = c.node;
    const config = node.sharedPoll.config(plan.options);
    const sub: SharedPollSubscription = {
      kind: 'shared_poll',
      channel,
      state: 'subscribing',
      serverSide: false,
      pushJoinLeave: plan.pushJoinLeave,
      emitJoinLeave: plan.emitJoinLeave,
      emitPresence: plan.emitPresence,
      expireAt: plan.expireAt,
      clientSideRefresh: plan.clientSideRefresh,
      info: c.clientInfo(plan.chanInfo),
      epoch: '',
    };
    sub.handle = new SharedPollHandle(c, sub);
    c.subs.set(channel, sub);
    c.watchSubscription(sub);
    const gone = (): boolean => c.subs.get(channel) !== sub;
    let presenceAdded = false;
    try {
      if (sub.emitPresence) {
        node.traffic.actions.add_presence++;
        await node.presenceManager.addPresence(channel, c.id, sub.info);
        presenceAdded = true;
        if (gone()) throw Disconnects.connectionClosed;
      }
      const result: SubscribeResult = { type: SubscribeTypes.sharedPoll };
      sub.epoch = node.sharedPoll.engine.epoch(channel, config);
      if (sub.epoch) result.epoch = sub.epoch;
      if (plan.expireAt > 0 && plan.clientSideRefresh) {
        result.expires = true;
        result.ttl = Math.max(1, Math.min(Math.ceil(plan.expireAt - node.clock.now() / 1000), 31_536_000));
      }
      if (plan.data && plan.data.length > 0) result.data = plan.data;
      sub.announced = true;
      node.events.emit('subscribe', { channel, client: c.id, clientName: c.clientName, recover: undefined });
      c.onAfterReply(() => goLive(c, sub));
      return { subscribe: result };
    } catch (err) {
      if (!gone()) c.subs.delete(channel);
      if (presenceAdded) {
        node.traffic.actions.remove_presence++;
        await node.presenceManager.removePresence(channel, c.id, c.userId).catch(() => undefined);
      }
      if (err instanceof ProtocolError || err instanceof Disconnect) throw err;
      node.faults.log('error', { client: c.id, channel, err }, 'shared poll subscribe failed');
      throw Disconnects.serverError;
    }
  });
}

function goLive(c: ClientSession, sub: SharedPollSubscription): void {
  sub.state = 'subscribed';
  if (sub.emitJoinLeave) {
    const node = c.node;
    node.traffic.brokerSent.join++;
    node.broker.publishJoin(sub.channel, sub.info).catch((err: unknown) => node.logger.warn({ channel: sub.channel, err }, 'join publish failed'));
  }
}

/**
 * sub_refresh type 1 (track) or 2 (untrack) on a shared-poll subscription. Writes the reply
 * itself, in the same synchronous turn as the engine call: the engine starts its polls from
 * a microtask, so the reply precedes every push the track causes. Errors are thrown.
 */
export function trackOrUntrack(c: ClientSession, sub: SharedPollSubscription, id: number, req: SubRefreshRequest): void {
  const node = c.node;
  const handle = sub.handle;
  if (handle === undefined) throw Errors.permissionDenied;
  if (req.type === 2) {
    node.sharedPoll.engine.untrack(handle, sub.channel, req.untrack ?? []);
    c.writeReply({ id, sub_refresh: {} }, 'sub_refresh');
    return;
  }
  const resolved = node.resolver.resolve(sub.channel);
  if (!resolved) throw Errors.unknownChannel;
  const track: TrackBatch[] = (req.track ?? []).map((b) => ({
    signature: b.signature ?? '',
    items: (b.items ?? []).map((it) => ({ key: it.key ?? '', version: it.version ?? 0 })),
  }));
  const reply = node.sharedPoll.engine.track(handle, sub.channel, node.sharedPoll.config(resolved.options), { track, untrack: req.untrack });
  c.writeReply({ id, sub_refresh: reply.ttl !== undefined ? { expires: reply.expires, ttl: reply.ttl } : reply.expires ? { expires: true } : {} }, 'sub_refresh');
}

export const sharedPollKind: KindOps<SharedPollSubscription> = {
  deliver: () => {
    // Shared-poll subscriptions have no channel hub entry: no channel publication reaches them.
  },
  finish: (_c, sub) => {
    sub.state = 'subscribed';
  },
  release: (c, sub) => {
    if (sub.handle !== undefined) c.node.sharedPoll.engine.remove(sub.handle, sub.channel);
  },
};
