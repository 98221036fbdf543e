/**
 * The map kind (subscription types 1, 2, 3; subscriptions.md §5): the phased subscribe flow
 * (STATE pages → STREAM catch-up → LIVE) over the MapBroker port, live delivery by key with
 * positioning, the transition buffer, map presence (map_clients / map_users, §5.9) and client
 * map publish / remove (§5.10).
 *
 * Between phase commands the attempt is a MapSubscription left in `c.subs` in the 'subscribing'
 * state (the reservation). It holds no hub entry until the transition to LIVE, which adds it to
 * the hub and the node's map broker interest, buffers live changes while it reads the stream,
 * merges them into the reply, and flushes the rest right after the reply (`finish`).
 */
import { Disconnect, Disconnects, Errors, ProtocolError } from '../../../protocol/codes.js';
import type { Publication, PublishRequest, Reply, SubscribeRequest, SubscribeResult } from '../../../protocol/types.js';
import { SubscribeTypes } from '../../../protocol/subscribe-types.js';
import type { ChannelOptions } from '../../channel-options.js';
import { mapNamespaceOf, MAP_SUBSCRIPTION_TYPES, MAX_MAP_KEY_BYTES } from '../../map-api.js';
import { mapHasStream, type MapBroker, type MapPublication, type MapPublishOptions, type MapRemoveOptions } from '../../map-broker.js';
import type { MapPublishProxy, MapRemoveProxy } from '../../proxy-ports.js';
import { callProxy, proxyClientOf } from '../proxy-calls.js';
import type { BrokerPublication, StreamPosition } from '../../ports.js';
import type { ClientSession } from '../client.js';
import { MapPhases, type MapSubscription, type MapSubscriptionSettings } from '../subscription.js';
import { authorizeSubscribe, hasAccess, withPending } from '../subscribe-plan.js';
import type { KindOps } from './kind-ops.js';
import { jsonStringData, makePatch } from '../../delta.js';

/** The request type each map namespace type accepts (§0.2). */
const TYPE_OF_NAMESPACE: Readonly<Record<string, number>> = Object.freeze({
  map: SubscribeTypes.map,
  map_clients: SubscribeTypes.mapClients,
  map_users: SubscribeTypes.mapUsers,
});

/** Default catch-up time of a reservation (subscribe_catch_up_timeout 0). */
const DEFAULT_CATCH_UP_TIMEOUT_MS = 5000;

/** A map request in a namespace of another type (or a map namespace of another map type) → 103. */
function checkMapType(reqType: number, opts: ChannelOptions): void {
  // A shared-poll namespace refuses every other request type with 107 (subscriptions.md §0.2).
  if (opts.subscription_type === 'shared_poll') throw Errors.badRequest;
  if (TYPE_OF_NAMESPACE[opts.subscription_type ?? ''] !== reqType) throw Errors.permissionDenied;
}

/** The namespace's map settings resolved once per attempt. */
function settingsOf(c: ClientSession, channel: string, opts: ChannelOptions): MapSubscriptionSettings {
  const ns = mapNamespaceOf(opts);
  const m = opts.map ?? {};
  const minPageSize = Math.min(m.min_page_size && m.min_page_size > 0 ? m.min_page_size : 100, ns.maxPageSize);
  const liveLimit = m.live_transition_max_publication_limit && m.live_transition_max_publication_limit > 0 ? m.live_transition_max_publication_limit : ns.maxPageSize;
  const timeout = m.subscribe_catch_up_timeout ?? 0;
  const settings: MapSubscriptionSettings = {
    broker: ns.broker,
    defaultPageSize: ns.defaultPageSize,
    minPageSize,
    maxPageSize: ns.maxPageSize,
    liveLimit,
    catchUpTimeoutMs: timeout < 0 ? 0 : timeout === 0 ? DEFAULT_CATCH_UP_TIMEOUT_MS : timeout,
    presence: !!opts.presence,
  };
  if (m.remove_client_on_unsubscribe) settings.removeClientKey = true;
  if (opts.map_clients_presence_channel_prefix) settings.clientsPresenceChannel = opts.map_clients_presence_channel_prefix + channel;
  if (opts.map_users_presence_channel_prefix && c.userId !== '') settings.usersPresenceChannel = opts.map_users_presence_channel_prefix + channel;
  return settings;
}

/** The page size of one request: its limit or the default, clamped to [min, max] (§5.4). */
function pageSize(s: MapSubscriptionSettings, limit: number | undefined): number {
  const l = limit && limit > 0 ? limit : s.defaultPageSize;
  return Math.max(s.minPageSize, Math.min(l, s.maxPageSize));
}

function brokerOf(c: ClientSession): MapBroker {
  const b = c.node.mapBroker;
  if (!b) throw Errors.notAvailable;
  return b;
}

/** A map change in its wire form (state entry, stream change or catch-up publication). */
export function toWireMapPublication(p: MapPublication): Publication {
  const out: Publication = { key: p.key };
  if (!p.removed && p.data.length > 0) out.data = p.data;
  if (p.removed) out.removed = true;
  if (p.offset) out.offset = p.offset;
  if (p.info) out.info = p.info;
  if (p.tags && Object.keys(p.tags).length > 0) out.tags = p.tags;
  return out;
}

const JSON_NULL = new TextEncoder().encode('null');

/** A map change's payload as a delta subscriber on `json` gets it: a JSON string; removals "null" (§3.2). */
function deltaData(p: MapPublication, json: boolean): Uint8Array {
  if (!json) return p.data;
  return jsonStringData(p.removed ? JSON_NULL : p.data);
}

/** State entries and stream pages: always full, in the delta wire form when delta was negotiated. */
function wireFull(c: ClientSession, sub: MapSubscription, pubs: MapPublication[]): Publication[] {
  if (!sub.delta) return pubs.map(toWireMapPublication);
  const json = c.protocol === 'json';
  return pubs.map((p) => ({ ...toWireMapPublication(p), data: deltaData(p, json) }));
}

/**
 * The LIVE reply's publications: with delta, per key the first occurrence goes full and later
 * ones as patches against the previous occurrence when smaller (JSON: valid UTF-8); removals full.
 */
function wireBatch(c: ClientSession, sub: MapSubscription, pubs: MapPublication[]): Publication[] {
  if (!sub.delta) return pubs.map(toWireMapPublication);
  const json = c.protocol === 'json';
  const last = new Map<string, Uint8Array>();
  return pubs.map((p) => {
    const out = toWireMapPublication(p);
    const prev = last.get(p.key);
    if (p.removed) last.delete(p.key);
    else last.set(p.key, p.data);
    const patch = prev !== undefined && !p.removed ? makePatch(prev, p.data) : undefined;
    if (patch !== undefined && (!json || patch.jsonSafe)) return { ...out, data: json ? jsonStringData(patch.bytes) : patch.bytes, delta: true };
    return { ...out, data: deltaData(p, json) };
  });
}

/**
 * Drops the reservations of other channels whose catch-up outlived their timeout (§5.3); they
 * hold nothing outside the session.
 */
function dropStaleReservations(c: ClientSession, channel: string): void {
  const now = c.node.clock.now();
  for (const sub of c.subs.values()) {
    if (sub.kind !== 'map' || sub.state !== 'subscribing' || sub.channel === channel || sub.inHub) continue;
    if (c.pending?.has(sub.channel)) continue;
    const t = sub.settings.catchUpTimeoutMs;
    if (t > 0 && now - sub.startedAtMs > t) dropReservation(c, sub);
  }
}

/** Removes an unfinished attempt and whatever it registered. */
function dropReservation(c: ClientSession, sub: MapSubscription): void {
  if (c.subs.get(sub.channel) !== sub) return;
  c.subs.delete(sub.channel);
  releaseMap(c, sub);
}

/** One map subscribe command (any phase) for request types 1, 2 and 3. */
export async function subscribeMapFlow(c: ClientSession, channel: string, req: SubscribeRequest): Promise<Reply> {
  // An unknown delta type is simply not negotiated for maps (§3.1).
  const node = c.node;
  if (Buffer.byteLength(channel) > node.resolver.maxLength) throw Errors.badRequest;
  if (c.pending?.has(channel)) throw Errors.concurrentPagination;
  dropStaleReservations(c, channel);
  const existing = c.subs.get(channel);
  let sub: MapSubscription | undefined;
  if (existing) {
    if (existing.kind !== 'map' || existing.state === 'subscribed') throw Errors.alreadySubscribed;
    sub = existing;
  }
  const phase = req.phase ?? MapPhases.live;
  if (sub && phase === MapPhases.state && !req.cursor) throw Errors.alreadySubscribed;
  if (!sub && c.subs.size + (c.pending?.size ?? 0) >= node.rules.channelLimit) throw Errors.limitExceeded;
  if (sub) {
    const t = sub.settings.catchUpTimeoutMs;
    if (t > 0 && node.clock.now() - sub.startedAtMs > t) {
      dropReservation(c, sub);
      throw Disconnects.slow;
    }
  }
  return withPending(c, channel, async () => {
    let created = false;
    try {
      if (phase === MapPhases.state) {
        if (!sub) {
          if (req.cursor) throw Errors.permissionDenied;
          sub = await reserve(c, channel, req);
          created = true;
        }
        return await statePhase(c, sub, req);
      }
      if (phase === MapPhases.stream) {
        if (!sub) {
          if (!req.recover) throw Errors.permissionDenied;
          sub = await reserve(c, channel, req);
          created = true;
          sub.epoch = req.epoch ?? '';
          sub.offset = req.offset ?? 0;
        }
        return await streamPhase(c, sub, req);
      }
      // A direct LIVE request: a recovery join from the request's position (§5.6).
      if (!sub) {
        sub = await reserve(c, channel, req);
        created = true;
      }
      if (req.epoch && sub.epoch && req.epoch !== sub.epoch) throw Errors.unrecoverablePosition;
      return await goLive(c, sub, { offset: req.offset ?? 0, epoch: req.epoch ?? sub.epoch }, undefined, !!req.recover);
    } catch (err) {
      // A failed step ends the attempt (the client starts over); a new one that failed leaves nothing.
      if (sub && (created || !(err instanceof ProtocolError && err.code === Errors.concurrentPagination.code))) dropReservation(c, sub);
      throw err;
    }
  });
}

/** Permission for a new attempt and its reservation (the first STATE page, or a STREAM/LIVE recovery). */
async function reserve(c: ClientSession, channel: string, req: SubscribeRequest): Promise<MapSubscription> {
  const type = req.type as 1 | 2 | 3;
  const plan = await authorizeSubscribe(c, channel, req, checkMapType);
  brokerOf(c);
  if (c.state === 'closed') throw Disconnects.connectionClosed;
  if (c.subs.has(channel)) throw Errors.alreadySubscribed;
  const settings = settingsOf(c, channel, plan.options);
  const sub: MapSubscription = {
    kind: 'map',
    channel,
    state: 'subscribing',
    serverSide: false,
    mapType: type,
    phase: (req.phase ?? 0) as MapSubscription['phase'],
    positioned: mapHasStream(settings.broker),
    offset: 0,
    epoch: '',
    startedAtMs: c.node.clock.now(),
    pushJoinLeave: plan.pushJoinLeave,
    emitJoinLeave: plan.emitJoinLeave,
    // Presence is switched on once live (settings.presence), so a reservation is never in it.
    emitPresence: false,
    expireAt: plan.expireAt,
    clientSideRefresh: plan.clientSideRefresh,
    info: c.clientInfo(plan.chanInfo),
    settings,
  };
  if (plan.tagsFilter) sub.tagsFilter = plan.tagsFilter;
  if (plan.delta) sub.delta = true;
  c.subs.set(channel, sub);
  return sub;
}

/** A STATE page (§5.4); the last page may go LIVE directly. */
async function statePhase(c: ClientSession, sub: MapSubscription, req: SubscribeRequest): Promise<Reply> {
  const broker = brokerOf(c);
  const s = sub.settings;
  const limit = pageSize(s, req.limit);
  const withPosition = (req.offset ?? 0) > 0 || !!req.epoch;
  const first = !req.cursor;
  const r = await broker.readState(sub.channel, {
    channel: s.broker,
    limit,
    ...(req.cursor ? { cursor: req.cursor } : {}),
    ...(withPosition ? { revision: { offset: req.offset ?? 0, epoch: req.epoch ?? '' } } : {}),
  });
  if (r.unrecoverable) throw Errors.unrecoverablePosition;
  if (withPosition && req.epoch && r.position.epoch !== req.epoch) throw Errors.unrecoverablePosition;
  if (first) {
    sub.offset = r.position.offset;
    sub.epoch = r.position.epoch;
  } else if (r.position.epoch !== sub.epoch) throw Errors.unrecoverablePosition;
  sub.phase = MapPhases.state;
  // Entries changed after the first page come through the stream instead (§5.13).
  const frozen = sub.offset;
  const pass = sub.tagsFilter;
  const state = wireFull(c, sub, r.entries.filter((e) => (!sub.positioned || e.offset <= frozen) && (pass === undefined || pass(e.tags))));
  if (r.cursor === '') {
    if (!sub.positioned) return goLive(c, sub, { offset: 0, epoch: sub.epoch }, state, false);
    if (frozen + limit >= r.position.offset) return goLive(c, sub, { offset: frozen, epoch: sub.epoch }, state, false);
  }
  const result: SubscribeResult = { type: SubscribeTypes.map, phase: MapPhases.state, epoch: sub.epoch, offset: frozen };
  if (r.cursor) result.cursor = r.cursor;
  if (state.length > 0) result.state = state;
  return { subscribe: result };
}

/** A STREAM page (§5.5); goes LIVE once the rest fits one transition. */
async function streamPhase(c: ClientSession, sub: MapSubscription, req: SubscribeRequest): Promise<Reply> {
  if (!sub.positioned) throw Errors.badRequest;
  const broker = brokerOf(c);
  const s = sub.settings;
  if (req.epoch && sub.epoch && req.epoch !== sub.epoch) throw Errors.unrecoverablePosition;
  const epoch = req.epoch || sub.epoch;
  const since: StreamPosition = { offset: req.offset ?? 0, epoch };
  if (sub.streamStart === undefined) {
    const top = await broker.readStream(sub.channel, { channel: s.broker, limit: 0 });
    if (epoch && top.position.epoch !== epoch) throw Errors.unrecoverablePosition;
    sub.streamStart = top.position.offset;
    if (!sub.epoch) sub.epoch = top.position.epoch;
  }
  sub.phase = MapPhases.stream;
  const limit = pageSize(s, req.limit);
  if (since.offset + limit >= sub.streamStart) return goLive(c, sub, since, undefined, !!req.recover);
  const r = await broker.readStream(sub.channel, { channel: s.broker, limit, since });
  if (r.unrecoverable) throw Errors.unrecoverablePosition;
  const pubs = r.publications;
  if (pubs.length > 0 && since.offset > 0 && pubs[0]!.offset > since.offset + 1) throw Errors.unrecoverablePosition;
  const last = pubs.length > 0 ? pubs[pubs.length - 1]!.offset : since.offset;
  const pass = sub.tagsFilter;
  const shown = pass ? pubs.filter((p) => pass(p.tags)) : pubs;
  const result: SubscribeResult = { type: SubscribeTypes.map, phase: MapPhases.stream, epoch: r.position.epoch, offset: last };
  if (shown.length > 0) result.publications = wireFull(c, sub, shown);
  return { subscribe: result };
}

/**
 * The transition to LIVE (§5.6): hub entry and broker interest first (live changes buffer),
 * then the stream catch-up from `since`, merged with what was buffered meanwhile. The reply
 * completes the subscription; `finish` (after the reply) flushes what arrived later.
 */
async function goLive(c: ClientSession, sub: MapSubscription, since: StreamPosition, state: Publication[] | undefined, recovering: boolean): Promise<Reply> {
  const node = c.node;
  const broker = brokerOf(c);
  const s = sub.settings;
  const channel = sub.channel;
  sub.buffer = [];
  if (!sub.inHub) {
    sub.inHub = true;
    node.hub.addSub(c, sub, sub.tagsFilter || sub.delta ? { filter: sub.tagsFilter, deltaNegotiated: sub.delta } : undefined);
    // From the LIVE reply on the client holds every key's value: live changes of stream modes may be patches (§3.5).
    if (sub.delta) node.hub.setDeltaBase(c, channel, sub.positioned);
    await node.acquireMapChannel(channel);
  }
  if (c.subs.get(channel) !== sub) throw Disconnects.connectionClosed;
  const result: SubscribeResult = { type: SubscribeTypes.map };
  if (sub.positioned) {
    const n = s.liveLimit;
    const r = await broker.readStream(channel, { channel: s.broker, limit: n + 1, since });
    if (c.subs.get(channel) !== sub) throw Disconnects.connectionClosed;
    const pubs = r.publications;
    if (r.unrecoverable || pubs.length > n) throw Errors.unrecoverablePosition;
    if (since.epoch && r.position.epoch !== since.epoch) throw Errors.unrecoverablePosition;
    // A stream that expired while the top moved past the position cannot be replayed (§5.8).
    if (pubs.length === 0 ? since.offset < r.position.offset : pubs[0]!.offset !== since.offset + 1) throw Errors.unrecoverablePosition;
    if (sub.overflowed) throw Errors.unrecoverablePosition;
    const byOffset = new Map<number, BrokerPublication>();
    for (const p of pubs) byOffset.set(p.offset, p);
    let top = r.position.offset;
    for (const b of sub.buffer) {
      if (b.epoch && b.epoch !== r.position.epoch) throw Disconnects.insufficientState;
      if (b.pub.offset > top) top = b.pub.offset;
      if (b.pub.offset > since.offset && !byOffset.has(b.pub.offset)) byOffset.set(b.pub.offset, b.pub);
    }
    let merged = [...byOffset.values()].sort((a, b) => a.offset - b.offset);
    let expect = since.offset + 1;
    for (const p of merged) {
      if (p.offset !== expect) throw Disconnects.insufficientState;
      expect++;
    }
    const pass = sub.tagsFilter;
    if (pass) merged = merged.filter((p) => pass(p.tags));
    sub.offset = top;
    sub.epoch = r.position.epoch;
    result.epoch = sub.epoch;
    result.offset = top;
    result.recoverable = true;
    if (merged.length > 0) result.publications = wireBatch(c, sub, merged as MapPublication[]);
  } else {
    if (sub.overflowed) throw Errors.unrecoverablePosition;
    // A direct LIVE request read no state page: the epoch comes from a position-only read.
    if (!sub.epoch) sub.epoch = (await broker.readState(channel, { channel: s.broker, limit: 0 })).position.epoch;
    if (c.subs.get(channel) !== sub) throw Disconnects.connectionClosed;
    // No stream: what arrived since the hub entry goes in the reply, later arrivals after it.
    const held = sub.buffer;
    sub.buffer = [];
    const pubs = wireFull(c, sub, held.filter((b) => b.item !== undefined).map((b) => b.pub as MapPublication));
    result.epoch = sub.epoch;
    if (pubs.length > 0) result.publications = pubs;
  }
  if (state && state.length > 0) result.state = state;
  if (sub.delta) result.delta = true;
  if (recovering) {
    result.was_recovering = true;
    result.recovered = true;
  }
  sub.phase = MapPhases.live;
  const recoveredPublications = result.publications?.length ?? 0;
  c.onAfterReply(() => finishLive(c, sub, recovering, recoveredPublications));
  return { subscribe: result };
}

/** Right after the LIVE reply: subscribed, buffer flushed, presence, map presence and join. */
function finishLive(c: ClientSession, sub: MapSubscription, recovering: boolean, publications: number): void {
  if (c.subs.get(sub.channel) !== sub) return;
  const node = c.node;
  finishMap(c, sub);
  if (c.subs.get(sub.channel) !== sub) return;
  sub.announced = true;
  node.events.emit('subscribe', {
    channel: sub.channel,
    client: c.id,
    clientName: c.clientName,
    recover: recovering ? { recovered: true, hasPublications: publications > 0, publications } : undefined,
  });
  if (sub.settings.presence) {
    sub.emitPresence = true;
    node.traffic.actions.add_presence++;
    node.presenceManager.addPresence(sub.channel, c.id, sub.info).catch((err: unknown) => node.logger.warn({ channel: sub.channel, err }, 'presence add failed'));
  }
  if (sub.settings.clientsPresenceChannel || sub.settings.usersPresenceChannel) {
    sub.mapPresence = true;
    writeMapPresence(c, sub);
  }
  c.watchSubscription(sub);
  if (sub.emitJoinLeave) {
    node.traffic.brokerSent.join++;
    node.broker.publishJoin(sub.channel, sub.info).catch((err: unknown) => node.logger.warn({ channel: sub.channel, err }, 'join publish failed'));
  }
}

/** The map presence channel's broker options, or undefined when it is not a map namespace. */
function presenceChannelOptions(c: ClientSession, channel: string): ReturnType<typeof mapNamespaceOf> | undefined {
  const resolved = c.node.resolver.resolve(channel);
  if (!resolved || !MAP_SUBSCRIPTION_TYPES.has(resolved.options.subscription_type ?? '')) return undefined;
  return mapNamespaceOf(resolved.options);
}

/**
 * Writes (or refreshes) this subscriber in its map presence channels (§5.9): written only if
 * new, so a present entry just gets its key TTL pushed without a broadcast. Also the tick's refresh.
 */
export function writeMapPresence(c: ClientSession, sub: MapSubscription): void {
  const node = c.node;
  const broker = node.mapBroker;
  if (!broker) return;
  const fail = (err: unknown): void => node.logger.warn({ client: c.id, channel: sub.channel, err }, 'map presence update failed');
  const clients = sub.settings.clientsPresenceChannel;
  if (clients) {
    const ns = presenceChannelOptions(c, clients);
    if (ns) {
      const info = { ...sub.info };
      broker
        .publish(clients, c.id, { channel: ns.broker, data: new Uint8Array(0), clientInfo: info, keyMode: 'if_new', refreshTtlOnSuppress: true })
        .catch(fail);
    }
  }
  const users = sub.settings.usersPresenceChannel;
  if (users) {
    const ns = presenceChannelOptions(c, users);
    if (ns) broker.publish(users, c.userId, { channel: ns.broker, data: new Uint8Array(0), keyMode: 'if_new', refreshTtlOnSuppress: true }).catch(fail);
  }
}

/** Removes this subscriber's map_clients entry (map_users entries only expire, §5.9). */
function removeMapPresence(c: ClientSession, sub: MapSubscription): void {
  const node = c.node;
  const broker = node.mapBroker;
  const clients = sub.settings.clientsPresenceChannel;
  if (!broker || !clients) return;
  const ns = presenceChannelOptions(c, clients);
  if (!ns) return;
  broker.remove(clients, c.id, { channel: ns.broker }).catch((err: unknown) => node.logger.warn({ client: c.id, channel: clients, err }, 'map presence removal failed'));
}

/**
 * A live map change from the hub (an open session). While the transition to LIVE runs it is
 * buffered (bounded by the transition limit); once live, stream modes check the position: a
 * gap or an epoch change ends the subscription with 2500 and the client recovers.
 */
function deliverMap(c: ClientSession, sub: MapSubscription, pub: BrokerPublication, position: StreamPosition, item: Uint8Array | undefined): void {
  if (sub.state === 'subscribing') {
    const buffer = sub.buffer;
    if (!buffer || sub.overflowed) return;
    if (buffer.length >= sub.settings.liveLimit) {
      sub.overflowed = true;
      sub.buffer = [];
      return;
    }
    buffer.push({ pub, item, epoch: position.epoch });
    return;
  }
  if (!advance(c, sub, pub, position.epoch)) return;
  if (item !== undefined) c.enqueuePublication(item);
}

/** Positioning of one live change; false when it must not be sent (old, or the subscription ended). */
function advance(c: ClientSession, sub: MapSubscription, pub: BrokerPublication, epoch: string): boolean {
  if (!sub.positioned || pub.offset === 0) return true;
  if (sub.epoch && epoch && epoch !== sub.epoch) {
    c.serverUnsubscribe(sub.channel, { code: 2500, reason: 'insufficient state' });
    return false;
  }
  if (pub.offset <= sub.offset) return false;
  if (pub.offset > sub.offset + 1) {
    c.serverUnsubscribe(sub.channel, { code: 2500, reason: 'insufficient state' });
    return false;
  }
  sub.offset = pub.offset;
  return true;
}

/** After the LIVE reply is queued: subscribed, then what arrived since the catch-up read. */
function finishMap(c: ClientSession, sub: MapSubscription): void {
  const buffered = sub.buffer ?? [];
  sub.buffer = undefined;
  sub.state = 'subscribed';
  if (sub.overflowed) {
    sub.overflowed = undefined;
    c.serverUnsubscribe(sub.channel, { code: 2500, reason: 'insufficient state' });
    return;
  }
  for (const b of buffered) {
    if (b.epoch && sub.epoch && b.epoch !== sub.epoch && sub.positioned) {
      c.serverUnsubscribe(sub.channel, { code: 2500, reason: 'insufficient state' });
      return;
    }
    if (!advance(c, sub, b.pub, b.epoch)) {
      if (c.subs.get(sub.channel) !== sub) return;
      continue;
    }
    if (b.item !== undefined) c.enqueuePublication(b.item);
  }
}

/** Removal (or a dropped attempt): hub entry, map broker interest, map presence. */
function releaseMap(c: ClientSession, sub: MapSubscription): void {
  sub.buffer = undefined;
  if (sub.inHub) {
    sub.inHub = false;
    c.node.hub.removeSub(c, sub.channel);
    c.node.releaseMapChannel(sub.channel);
  }
  if (sub.mapPresence) {
    sub.mapPresence = false;
    removeMapPresence(c, sub);
  }
  if (sub.settings.removeClientKey && sub.announced) {
    const node = c.node;
    node.mapBroker
      ?.remove(sub.channel, c.id, { channel: sub.settings.broker })
      .catch((err: unknown) => node.logger.warn({ client: c.id, channel: sub.channel, err }, 'client key removal failed'));
  }
}

/** The map kind's entry in the kinds table (kinds/index.ts). */
export const mapKind: KindOps<MapSubscription> = {
  deliver: deliverMap,
  finish: finishMap,
  release: releaseMap,
};

/**
 * A client map publish or remove (`PublishRequest.type` 1, §5.10): namespace, permission by the
 * namespace's map publish / remove proxy when it has one (the backend may change key, payload and
 * write options), else by its map rules with key resolution (`client_key`), then the broker
 * write. The reply follows the applied write; a suppressed removal (absent key) succeeds too.
 */
export async function handleMapPublish(c: ClientSession, req: PublishRequest): Promise<Reply> {
  const channel = req.channel ?? '';
  const node = c.node;
  const resolved = node.resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!node.resolver.validName(channel, resolved)) throw Errors.badRequest;
  const opts = resolved.options;
  if (!MAP_SUBSCRIPTION_TYPES.has(opts.subscription_type ?? '')) throw Errors.badRequest;
  const broker = brokerOf(c);
  const m = opts.map ?? {};
  const removing = !!req.removed;
  const sub = c.subs.get(channel);
  const ns = mapNamespaceOf(opts);
  let key = req.key ?? '';
  let data = req.data ?? new Uint8Array(0);
  // The proxy replaces the allow_* rules; client_key never comes with it (config validation).
  const proxy = removing ? node.proxies.mapRemove?.(resolved.namespace) : node.proxies.mapPublish?.(resolved.namespace);
  let publishExtra: Partial<MapPublishOptions> = {};
  let removeExtra: Partial<MapRemoveOptions> = {};
  if (proxy) {
    if (key === '') throw Errors.badRequest;
    const base = { ...proxyClientOf(c), channel, key };
    if (removing) {
      const p = proxy as MapRemoveProxy;
      const r = await callProxy(c, 'map_remove', p, () => p.mapRemove(base));
      if (r.key) key = r.key;
      removeExtra = { ...(r.tags && { tags: r.tags }), ...(r.idempotencyKey && { idempotencyKey: r.idempotencyKey }) };
    } else {
      const p = proxy as MapPublishProxy;
      const r = await callProxy(c, 'map_publish', p, () => p.mapPublish({ ...base, data }));
      if (r.key) key = r.key;
      if (r.data) data = r.data;
      publishExtra = {
        ...(r.tags && { tags: r.tags }),
        ...(r.keyMode && { keyMode: r.keyMode }),
        ...(r.idempotencyKey && { idempotencyKey: r.idempotencyKey }),
        ...(r.delta && { delta: true }),
        ...(r.version && { version: r.version }),
        ...(r.versionEpoch && { versionEpoch: r.versionEpoch }),
      };
    }
    if (c.state === 'closed') throw Disconnects.connectionClosed;
  } else {
    const subscribed = !!sub && sub.state === 'subscribed';
    const allowed = removing
      ? hasAccess(c, m.allow_remove_for_client, m.allow_remove_for_subscriber, m.allow_remove_for_anonymous, subscribed)
      : hasAccess(c, m.allow_publish_for_client, m.allow_publish_for_subscriber, m.allow_publish_for_anonymous, subscribed);
    if (!allowed) throw Errors.permissionDenied;
    if (m.client_key === 'client_id') key = c.id;
    else if (m.client_key === 'user_id') {
      if (c.userId === '') throw Errors.permissionDenied;
      key = c.userId;
    }
  }
  if (key === '' || Buffer.byteLength(key) > MAX_MAP_KEY_BYTES) throw Errors.badRequest;
  try {
    if (removing) await broker.remove(channel, key, { ...removeExtra, channel: ns.broker });
    else {
      await broker.publish(channel, key, {
        ...publishExtra,
        channel: ns.broker,
        data,
        clientInfo: c.clientInfo(sub?.info.chan_info),
        ...(opts.delta_publish ? { delta: true } : {}),
      });
    }
  } catch (err) {
    if (err instanceof ProtocolError || err instanceof Disconnect) throw err;
    node.faults.log('error', { client: c.id, channel, err }, 'map publish failed');
    throw Errors.internal;
  }
  return { publish: {} };
}
