/**
 * The local registry of connections and channel subscriptions. Publications are encoded
 * once per protocol and the same bytes are queued to every subscriber; no scan over all
 * connections happens on any path.
 */
import type { Reply } from '../protocol/types.js';
import type { BrokerPublication, StreamPosition } from './ports.js';
import type { Subscription } from './client/subscription.js';
import type { ProtocolType } from '../protocol/types.js';
import type { FrameType } from './traffic.js';

/**
 * How a connection's pushes are encoded: its protocol, and whether they go bare
 * (`-uni`: unidirectional transports) or wrapped in a Reply (every other transport).
 */
export type PushFraming = ProtocolType | `${ProtocolType}-uni`;

/** What the hub needs from a connection. */
export interface HubClient {
  readonly id: string;
  readonly userId: string;
  readonly sessionId: string;
  readonly protocol: ProtocolType;
  readonly framing: PushFraming;
  /** Delivers a publication already encoded for this connection's protocol. */
  deliverPublication(sub: Subscription, pub: BrokerPublication, position: StreamPosition, item: Uint8Array): void;
  /** Queues an encoded push item of the given frame type. */
  enqueue(item: Uint8Array, frameType: FrameType): void;
  /** Called when a push cannot be encoded for this connection (binary data to JSON). */
  encodeFailed(): void;
}

/** Encodes a push reply lazily, once per framing; undefined when the protocol cannot carry it. */
export type PushEncoder = (framing: PushFraming, reply: Reply) => Uint8Array | undefined;

/** Per-broadcast cache of encoded items: null = not encoded yet, undefined = cannot be encoded. */
type ItemCache = Record<PushFraming, Uint8Array | undefined | null>;

const emptyCache = (): ItemCache => ({ json: null, protobuf: null, 'json-uni': null, 'protobuf-uni': null });

/** A channel's local subscribers: each connection's subscription, keyed by the connection itself. */
interface ChannelEntry {
  subs: Map<HubClient, Subscription>;
}

/**
 * C is the connection type the registry hands back (the node's sessions), so callers need
 * no casts; the fan-out side only uses HubClient.
 */
export class Hub<C extends HubClient = HubClient> {
  private readonly clients = new Map<string, C>();
  private readonly users = new Map<string, Set<C>>();
  private readonly channels = new Map<string, ChannelEntry>();
  private numSubs = 0;

  constructor(private readonly encode: PushEncoder) {}

  addClient(c: C): void {
    this.clients.set(c.id, c);
    let set = this.users.get(c.userId);
    if (!set) {
      set = new Set();
      this.users.set(c.userId, set);
    }
    set.add(c);
  }

  removeClient(c: C): void {
    if (this.clients.get(c.id) !== c) return;
    this.clients.delete(c.id);
    const set = this.users.get(c.userId);
    if (set) {
      set.delete(c);
      if (set.size === 0) this.users.delete(c.userId);
    }
  }

  client(id: string): C | undefined {
    return this.clients.get(id);
  }

  userClients(userId: string): Iterable<C> {
    return this.users.get(userId) ?? [];
  }

  userConnectionCount(userId: string): number {
    return this.users.get(userId)?.size ?? 0;
  }

  /** Adds a subscriber; returns true when it is the channel's first local subscriber. */
  addSub(client: HubClient, sub: Subscription): boolean {
    let entry = this.channels.get(sub.channel);
    const first = !entry;
    if (!entry) {
      entry = { subs: new Map() };
      this.channels.set(sub.channel, entry);
    }
    if (!entry.subs.has(client)) this.numSubs++;
    entry.subs.set(client, sub);
    return first;
  }

  /** Removes a subscriber; returns true when the channel has no local subscribers left. */
  removeSub(client: HubClient, channel: string): boolean {
    const entry = this.channels.get(channel);
    if (!entry) return false;
    if (entry.subs.delete(client)) this.numSubs--;
    if (entry.subs.size === 0) {
      this.channels.delete(channel);
      return true;
    }
    return false;
  }

  hasSubscribers(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Delivers a publication to every local subscriber of the channel. */
  broadcastPublication(channel: string, pub: BrokerPublication, position: StreamPosition): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    const items = emptyCache();
    const reply: Reply = {
      push: {
        channel,
        pub: { data: pub.data, info: pub.info, offset: pub.offset || undefined, tags: pub.tags, epoch: pub.epoch, delta: pub.delta || undefined },
      },
    };
    for (const [client, sub] of entry.subs) {
      const item = this.item(items, client.framing, reply);
      if (!item) {
        client.encodeFailed();
        continue;
      }
      client.deliverPublication(sub, pub, position, item);
    }
  }

  /** Sends a join or leave push to subscribers that asked for join/leave pushes. */
  broadcastJoinLeave(channel: string, reply: Reply): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    const items = emptyCache();
    const frameType: FrameType = reply.push?.join ? 'push_join' : 'push_leave';
    for (const [client, sub] of entry.subs) {
      if (!sub.pushJoinLeave || sub.state !== 'subscribed') continue;
      const item = this.item(items, client.framing, reply);
      if (item) client.enqueue(item, frameType);
      else client.encodeFailed();
    }
  }

  /** The reply encoded for one framing, encoded on first use within a broadcast. */
  private item(items: ItemCache, framing: PushFraming, reply: Reply): Uint8Array | undefined {
    let item = items[framing];
    if (item === null) {
      item = this.encode(framing, reply);
      items[framing] = item;
    }
    return item;
  }

  /** Channels with local subscribers and their counts. */
  channelCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [ch, e] of this.channels) out.set(ch, e.subs.size);
    return out;
  }

  get numClients(): number {
    return this.clients.size;
  }

  get numUsers(): number {
    return this.users.size;
  }

  get numChannels(): number {
    return this.channels.size;
  }

  get numSubscriptions(): number {
    return this.numSubs;
  }

  allClients(): Iterable<C> {
    return this.clients.values();
  }
}
