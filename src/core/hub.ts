/**
 * The local registry of connections and channel subscriptions. A publication is encoded once
 * per delivery variant (framing × delta mode) and the same bytes are queued to every subscriber
 * of that variant; a one-entry front cache makes the common case (one variant per channel) a
 * single encode and a number compare per subscriber. No scan over all connections happens on
 * any path, and nothing is encoded per subscriber.
 */
import type { Reply } from '../protocol/types.js';
import type { TagsPredicate } from '../protocol/tag-filter.js';
import type { BrokerPublication, StreamPosition } from './ports.js';
import type { Subscription } from './client/subscription.js';
import type { ProtocolType } from '../protocol/types.js';
import type { FrameType } from './traffic.js';
import { makePatch, type DeltaPatch } from './delta.js';
import { deferDelivery, type DeferredDelivery } from './writer.js';

/**
 * How a connection's pushes are encoded: its protocol, and whether they go bare
 * (`-uni`: unidirectional transports) or wrapped in a Reply (every other transport).
 */
export type PushFraming = ProtocolType | `${ProtocolType}-uni`;

/**
 * How a publication's payload goes to one subscriber (subscriptions.md §3.2, §3.5): plain;
 * delta negotiated, full payload (data as a JSON string in JSON); delta negotiated, fossil
 * patch against the previous publication.
 */
export const DeliveryModes = Object.freeze({ plain: 0, deltaFull: 1, deltaPatch: 2 } as const);
export type DeliveryMode = (typeof DeliveryModes)[keyof typeof DeliveryModes];

/** What the hub needs from a connection. */
export interface HubClient {
  readonly id: string;
  readonly userId: string;
  readonly sessionId: string;
  readonly protocol: ProtocolType;
  readonly framing: PushFraming;
  /**
   * Delivers a publication encoded for this subscriber's variant; `item` undefined means its
   * tags filter rejected it: advance a positioned subscription, send nothing (§4.4).
   */
  deliverPublication(sub: Subscription, pub: BrokerPublication, position: StreamPosition, item: Uint8Array | undefined): void;
  /** Queues an encoded push item of the given frame type. */
  enqueue(item: Uint8Array, frameType: FrameType): void;
  /**
   * Queues publications of one live subscription (subscriptionLive) that every live subscriber
   * of the channel with this framing receives: the array is shared and never modified; `bytes`
   * is the sum of the items' lengths. Absent: the client's subscriptions never go live.
   */
  enqueuePublications?(items: readonly Uint8Array[], bytes: number): void;
  /** Called when a push cannot be encoded for this connection (binary data to JSON). */
  encodeFailed(): void;
}

/**
 * Encodes a push reply for one framing and delivery mode; undefined when the protocol cannot
 * carry it. Called at most once per variant per broadcast.
 */
export type PushEncoder = (framing: PushFraming, reply: Reply, mode: DeliveryMode) => Uint8Array | undefined;

/** How a subscriber receives publications beyond its connection's framing. */
export interface SubscriberVariant {
  /** Delta was negotiated at subscribe (§3.1). */
  deltaNegotiated?: boolean;
  /** The subscription's compiled tags filter (§4); undefined = every publication passes. */
  filter?: TagsPredicate;
}

/**
 * The hub's own record of one subscriber of one channel: what fan-out needs, nothing else.
 * Created by addSub, dropped by removeSub.
 */
export interface HubSubscriber {
  readonly client: HubClient;
  readonly sub: Subscription;
  readonly framing: PushFraming;
  /** Publications use the delta-mode wire format; a filter never suppresses them (§4.4). */
  readonly deltaNegotiated: boolean;
  /** Tags filter evaluated per publication; undefined = every publication passes. */
  readonly filter: TagsPredicate | undefined;
  /**
   * The variant key: FRAMINGS.indexOf(framing) × MODES + DeliveryMode. Mutable so the delta
   * change can move a subscriber from deltaFull to deltaPatch after its first publication
   * without touching the broadcast loop.
   */
  variant: number;
  /** Position in the channel's live list (subscriptionLive); -1 while delivered one publication at a time. */
  liveIndex: number;
}

const FRAMINGS: readonly PushFraming[] = ['json', 'protobuf', 'json-uni', 'protobuf-uni'];
const MODES = 3;
const VARIANTS = FRAMINGS.length * MODES;

/** The variant key of a framing and a delivery mode. */
export function variantKey(framing: PushFraming, mode: DeliveryMode): number {
  return FRAMINGS.indexOf(framing) * MODES + mode;
}

/** Computes the patch from a previous payload to the current one; undefined = send full. */
export type Patcher = (prev: Uint8Array, cur: Uint8Array) => DeltaPatch | undefined;

/** Per-broadcast encoded items by variant key: null = not encoded yet, undefined = cannot be encoded. */
type VariantCache = (Uint8Array | undefined | null)[];

const newVariantCache = (): VariantCache => new Array<Uint8Array | undefined | null>(VARIANTS).fill(null);

/** The framing index (in FRAMINGS) of a live subscriber: its variant is plain, framing × MODES. */
const framingOf = (rec: HubSubscriber): number => (rec.variant / MODES) | 0;

/** Takes a subscriber off its channel's live list (swapping the last one into its place). */
function leaveLive(entry: ChannelEntry, rec: HubSubscriber): void {
  const last = entry.live.pop()!;
  if (last !== rec) {
    entry.live[rec.liveIndex] = last;
    last.liveIndex = rec.liveIndex;
  }
  rec.liveIndex = -1;
  entry.liveFramings[framingOf(rec)]!--;
}

/** Per-broadcast cache of encoded join/leave items by framing: null = not encoded yet, undefined = cannot be encoded. */
type ItemCache = Record<PushFraming, Uint8Array | undefined | null>;

const emptyCache = (): ItemCache => ({ json: null, protobuf: null, 'json-uni': null, 'protobuf-uni': null });

/** A channel's local subscribers, keyed by the connection. */
interface ChannelEntry {
  subs: Map<HubClient, HubSubscriber>;
  /**
   * The live subscribers (subscriptionLive): every publication reaches them in runs, and only
   * the others are visited per publication.
   */
  live: HubSubscriber[];
  /** Live subscribers per framing (index in FRAMINGS). */
  liveFramings: number[];
}

/** One publication being broadcast, and how it reaches delta subscribers. */
interface Broadcast {
  reply: Reply;
  pub: BrokerPublication;
  position: StreamPosition;
  /** The stream's previous publication, when published with delta. */
  prev: BrokerPublication | undefined;
  /** A map change: delta bases are per key. */
  keyed: boolean;
}

/**
 * Publications of one channel that followed each other, not yet handed to its live subscribers:
 * the encoded items and their byte sum per framing present among them.
 */
interface PendingRun {
  entry: ChannelEntry;
  items: (Uint8Array[] | undefined)[];
  bytes: number[];
}

/**
 * C is the connection type the registry hands back (the node's sessions), so callers need
 * no casts; the fan-out side only uses HubClient.
 */
export class Hub<C extends HubClient = HubClient> implements DeferredDelivery {
  private readonly clients = new Map<string, C>();
  private readonly users = new Map<string, Set<C>>();
  private readonly channels = new Map<string, ChannelEntry>();
  private numSubs = 0;
  /** Publications deferred for the live subscribers of one channel (deliverRun hands them out). */
  private run: PendingRun | undefined = undefined;
  /**
   * Set while a broadcast visits the subscribers that are not live: their writers are not the
   * live ones', so their queuing need not hand out the run (which holds this publication too).
   */
  private holding = false;
  /** A writer asked for the run while it was held: it goes back on the deferred list after. */
  private heldOff = false;

  /** `patcher` computes delta patches (§3.4); replaceable so tests can count its calls. */
  /** Publications not sent to a subscriber because its tags filter rejected them (a running total). */
  filterDropped = 0;

  constructor(
    private readonly encode: PushEncoder,
    private readonly patcher: Patcher = makePatch,
  ) {}

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

  /**
   * Adds a subscriber (replacing the connection's previous record for the channel); returns
   * true when it is the channel's first local subscriber. `variant` says how it receives
   * publications; absent = plain, unfiltered.
   */
  addSub(client: HubClient, sub: Subscription, variant?: SubscriberVariant): boolean {
    // Who is live changes only once the deferred publications went to those who were.
    if (this.run !== undefined) this.deliverRun();
    let entry = this.channels.get(sub.channel);
    const first = !entry;
    if (!entry) {
      entry = { subs: new Map(), live: [], liveFramings: [0, 0, 0, 0] };
      this.channels.set(sub.channel, entry);
    }
    const old = entry.subs.get(client);
    if (!old) this.numSubs++;
    else if (old.liveIndex >= 0) leaveLive(entry, old);
    const deltaNegotiated = variant?.deltaNegotiated === true;
    entry.subs.set(client, {
      client,
      sub,
      framing: client.framing,
      deltaNegotiated,
      filter: variant?.filter,
      variant: variantKey(client.framing, deltaNegotiated ? DeliveryModes.deltaFull : DeliveryModes.plain),
      liveIndex: -1,
    });
    return first;
  }

  /** Removes a subscriber; returns true when the channel has no local subscribers left. */
  removeSub(client: HubClient, channel: string): boolean {
    if (this.run !== undefined) this.deliverRun();
    const entry = this.channels.get(channel);
    if (!entry) return false;
    const rec = entry.subs.get(client);
    if (rec) {
      if (rec.liveIndex >= 0) leaveLive(entry, rec);
      entry.subs.delete(client);
      this.numSubs--;
    }
    if (entry.subs.size === 0) {
      this.channels.delete(channel);
      return true;
    }
    return false;
  }

  /**
   * A subscription went live: its subscribe reply and what was buffered meanwhile are queued.
   * When queuing is all that is left of its deliveries (a stream subscription without position,
   * delta or tags filter), it joins the channel's live list: from now on the publications of a
   * turn reach it as one shared run (deliverDeferred), not one by one.
   */
  subscriptionLive(client: HubClient, sub: Subscription): void {
    const entry = this.channels.get(sub.channel);
    const rec = entry?.subs.get(client);
    if (entry === undefined || rec === undefined || rec.sub !== sub || rec.liveIndex >= 0) return;
    if (sub.kind !== 'stream' || sub.positioned || sub.state !== 'subscribed' || rec.deltaNegotiated || rec.filter !== undefined) return;
    if (client.enqueuePublications === undefined) return;
    // The run so far was delivered to this subscriber one by one: it must not get it again.
    if (this.run !== undefined) {
      this.deliverRun();
      if (entry.subs.get(client) !== rec) return;
    }
    rec.liveIndex = entry.live.length;
    entry.live.push(rec);
    entry.liveFramings[framingOf(rec)]!++;
  }

  /**
   * DeferredDelivery: the writers call it before they queue, flush or close anything
   * (writer.ts), and at the end of the turn at the latest, so each connection's queue is what it
   * would have been with the publications delivered one by one.
   */
  deliverDeferred(): void {
    if (this.holding) this.heldOff = true;
    else this.deliverRun();
  }

  /** Hands the deferred run to every live subscriber of its channel. */
  private deliverRun(): void {
    const run = this.run;
    if (run === undefined) return;
    this.run = undefined;
    // A copy: a delivery may overflow a queue and close its connection, which leaves the list.
    const live = run.entry.live.slice();
    const items = run.items;
    for (let i = 0; i < live.length; i++) {
      const rec = live[i]!;
      const f = framingOf(rec);
      rec.client.enqueuePublications!(items[f]!, run.bytes[f]!);
    }
  }

  /**
   * Adds a publication to the channel's run for its live subscribers, encoded once per framing
   * among them. Returns the items by variant key (for the other subscribers), or undefined when
   * a live framing cannot carry the publication: then nothing was deferred.
   */
  private deferLive(entry: ChannelEntry, reply: Reply): VariantCache | undefined {
    if (this.run !== undefined && this.run.entry !== entry) {
      this.deliverRun();
      if (entry.live.length === 0) return newVariantCache();
    }
    const counts = entry.liveFramings;
    const encoded = newVariantCache();
    for (let f = 0; f < FRAMINGS.length; f++) {
      if (counts[f] === 0) continue;
      const item = this.encode(FRAMINGS[f]!, reply, DeliveryModes.plain);
      if (item === undefined) return undefined;
      encoded[f * MODES] = item;
    }
    let run = this.run;
    if (run === undefined) {
      run = { entry, items: [undefined, undefined, undefined, undefined], bytes: [0, 0, 0, 0] };
      this.run = run;
      deferDelivery(this);
    }
    for (let f = 0; f < FRAMINGS.length; f++) {
      const item = encoded[f * MODES];
      if (!item) continue;
      (run.items[f] ??= []).push(item);
      run.bytes[f]! += item.length;
    }
    return encoded;
  }

  hasSubscribers(channel: string): boolean {
    return this.channels.has(channel);
  }

  /**
   * Delivers a publication to every local subscriber of the channel, encoding it once per
   * variant present. A subscriber whose filter rejects the publication (and has no delta,
   * §4.4) gets an undefined item: its position advances, nothing is sent or encoded for it.
   * `prev` is the channel stream's previous publication when the publication was published
   * with delta (§3.5): delta subscribers holding it as their base get one fossil patch,
   * computed at most once here whatever the number of subscribers.
   */
  broadcastPublication(channel: string, pub: BrokerPublication, position: StreamPosition, prev?: BrokerPublication, keyed = false): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    // Map changes (map-broker.ts MapPublication) also carry their key and removal flag.
    const mapPub = pub as BrokerPublication & { key?: string; removed?: boolean };
    const reply: Reply = {
      push: {
        channel,
        pub: {
          data: pub.data,
          info: pub.info,
          offset: pub.offset || undefined,
          tags: pub.tags,
          epoch: pub.epoch,
          delta: pub.delta || undefined,
          key: mapPub.key,
          removed: mapPub.removed || undefined,
        },
      },
    };
    // Live subscribers get the publication in this turn's run; the others one by one, below.
    let others: VariantCache | undefined;
    let skipLive = false;
    if (entry.live.length > 0) {
      others = this.deferLive(entry, reply);
      if (others === undefined) {
        // A live framing cannot carry it: the run so far goes first, then everyone one by one.
        this.deliverRun();
      } else {
        if (entry.live.length === entry.subs.size) return;
        skipLive = true;
      }
    }
    const b: Broadcast = { reply, pub, position, prev, keyed };
    if (!skipLive) {
      this.deliverEach(entry, b, false, others);
      return;
    }
    const wasHolding = this.holding;
    this.holding = true;
    try {
      this.deliverEach(entry, b, true, others);
    } finally {
      this.holding = wasHolding;
      if (!wasHolding && this.heldOff) {
        this.heldOff = false;
        if (this.run !== undefined) deferDelivery(this);
      }
    }
  }

  /**
   * Delivers one publication subscriber by subscriber (all, or those not live), encoding it once
   * per variant; `cache` holds variants encoded already.
   */
  private deliverEach(entry: ChannelEntry, b: Broadcast, skipLive: boolean, cache: VariantCache | undefined): void {
    const { reply, pub, position, prev, keyed } = b;
    let others = cache;
    // Front cache: the variant encoded last. A channel whose subscribers share one variant never
    // leaves it; the full cache is allocated only when a second variant shows up.
    let frontKey = -1;
    let frontItem: Uint8Array | undefined;
    let delta: DeltaBroadcast | undefined;
    for (const rec of entry.subs.values()) {
      if (skipLive && rec.liveIndex >= 0) continue;
      if (rec.deltaNegotiated) {
        this.deliverDelta(rec, (delta ??= new DeltaBroadcast(reply, pub, prev, this.patcher, keyed)), position);
        continue;
      }
      if (rec.filter !== undefined && !rec.filter(pub.tags)) {
        this.filterDropped++;
        rec.client.deliverPublication(rec.sub, pub, position, undefined);
        continue;
      }
      const key = rec.variant;
      if (key !== frontKey) {
        if (frontKey >= 0) (others ??= newVariantCache())[frontKey] = frontItem;
        const cached = others === undefined ? null : (others[key] as Uint8Array | undefined | null);
        frontItem = cached === null ? this.encode(rec.framing, reply, (key % MODES) as DeliveryMode) : cached;
        frontKey = key;
      }
      if (frontItem === undefined) {
        rec.client.encodeFailed();
        continue;
      }
      rec.client.deliverPublication(rec.sub, pub, position, frontItem);
    }
  }

  /**
   * One delta subscriber: a patch when it holds the previous stream publication and a usable
   * patch exists, the full payload otherwise. After a full stream publication (offset > 0) the
   * subscriber holds it as its base, so the next one may be a patch; a publication outside the
   * stream (offset 0) is not the base the next patch is built from, so the next goes full.
   */
  private deliverDelta(rec: HubSubscriber, d: DeltaBroadcast, position: StreamPosition): void {
    // Keys of one framing are consecutive (plain, deltaFull, deltaPatch), so the full key is
    // the patch key minus one.
    const base = rec.variant - (rec.variant % MODES);
    let key = base + DeliveryModes.deltaFull;
    if (rec.variant === base + DeliveryModes.deltaPatch) {
      const patch = d.patch();
      if (patch !== undefined && (patch.jsonSafe || rec.framing === 'protobuf' || rec.framing === 'protobuf-uni')) key = rec.variant;
    }
    let item = d.items[key];
    if (item === null) {
      const mode = (key - base) as DeliveryMode;
      item = this.encode(rec.framing, mode === DeliveryModes.deltaPatch ? d.patchReply() : d.reply, mode);
      d.items[key] = item;
    }
    if (item === undefined) {
      rec.client.encodeFailed();
      return;
    }
    // A map subscriber's bases are per key and set when it goes live: its variant stays.
    if (!d.keyed) rec.variant = base + (d.pub.offset > 0 ? DeliveryModes.deltaPatch : DeliveryModes.deltaFull);
    rec.client.deliverPublication(rec.sub, d.pub, position, item);
  }

  /**
   * Sets what a delta subscriber's next live publication may be (§3.5, §3.6): `holdsBase` true
   * when the client holds the channel stream's newest publication (successful recovery), false
   * when its base is unknown (fresh subscribe, failed recovery): the next one goes full.
   * No effect on subscribers without delta.
   */
  setDeltaBase(client: HubClient, channel: string, holdsBase: boolean): void {
    const rec = this.channels.get(channel)?.subs.get(client);
    if (!rec || !rec.deltaNegotiated) return;
    rec.variant = variantKey(rec.framing, holdsBase ? DeliveryModes.deltaPatch : DeliveryModes.deltaFull);
  }

  /** Sends a join or leave push to subscribers that asked for join/leave pushes. */
  broadcastJoinLeave(channel: string, reply: Reply): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    const items = emptyCache();
    const frameType: FrameType = reply.push?.join ? 'push_join' : 'push_leave';
    for (const rec of entry.subs.values()) {
      const sub = rec.sub;
      if (!sub.pushJoinLeave || sub.state !== 'subscribed') continue;
      const item = this.item(items, rec.framing, reply);
      if (item) rec.client.enqueue(item, frameType);
      else rec.client.encodeFailed();
    }
  }

  /** The join/leave reply encoded for one framing, encoded on first use within a broadcast. */
  private item(items: ItemCache, framing: PushFraming, reply: Reply): Uint8Array | undefined {
    let item = items[framing];
    if (item === null) {
      item = this.encode(framing, reply, DeliveryModes.plain);
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

/**
 * Per-broadcast delta state: the encoded items of delta variants and the patch, computed on
 * first need and only once. A patch exists only for a publication published with delta whose
 * `prev` is the stream entry right before it.
 */
class DeltaBroadcast {
  readonly items: VariantCache = newVariantCache();
  private computed = false;
  private value: DeltaPatch | undefined;
  private patched: Reply | undefined;

  constructor(
    readonly reply: Reply,
    readonly pub: BrokerPublication,
    private readonly prev: BrokerPublication | undefined,
    private readonly patcher: Patcher,
    /** A map change: `prev` is the key's previous value, the base of a positioned map subscriber (§3.5). */
    readonly keyed = false,
  ) {}

  patch(): DeltaPatch | undefined {
    if (!this.computed) {
      this.computed = true;
      const prev = this.prev;
      const pub = this.pub;
      const removed = (pub as { removed?: boolean }).removed === true;
      const adjacent = this.keyed ? !removed : prev !== undefined && prev.offset === pub.offset - 1;
      if (prev !== undefined && pub.offset > 0 && adjacent) {
        this.value = this.patcher(prev.data, pub.data);
      }
    }
    return this.value;
  }

  /** The push carrying the patch instead of the payload, marked `delta`. */
  patchReply(): Reply {
    if (this.patched === undefined) {
      const push = this.reply.push!;
      this.patched = { push: { ...push, pub: { ...push.pub, data: this.value!.bytes, delta: true } } };
    }
    return this.patched;
  }
}
