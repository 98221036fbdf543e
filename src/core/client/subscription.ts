/** One connection's subscription to one channel, as the hub and the session see it. */
import type { ClientInfo } from '../../protocol/types.js';
import type { BrokerPublication } from '../ports.js';
import type { SubscribeStream } from '../proxy-ports.js';

/** A live publication that arrived while its subscription was being set up. */
export interface BufferedPublication {
  pub: BrokerPublication;
  /** The publication already encoded for the connection's protocol. */
  item: Uint8Array;
  epoch: string;
}

export interface Subscription {
  readonly channel: string;
  /** 'subscribing' buffers live publications (positioned subs) until the reply is written. */
  state: 'subscribing' | 'subscribed';
  /** Created by the server (token claims, API, personal channel) rather than a subscribe command. */
  readonly serverSide: boolean;
  positioned: boolean;
  recoverable: boolean;
  /** This subscriber receives join/leave pushes. */
  pushJoinLeave: boolean;
  /** This subscriber's arrival and departure produce join/leave messages. */
  emitJoinLeave: boolean;
  /** This subscriber is kept in channel presence. */
  emitPresence: boolean;
  /** Last delivered stream position (positioned subscriptions). */
  offset: number;
  epoch: string;
  /** Live publications held while the subscribe is in flight, delivered or merged after the reply. */
  buffer?: BufferedPublication[];
  /** Unix seconds; 0 = never. */
  expireAt: number;
  /** The client refreshes this subscription with sub_refresh (token-based expiry). */
  clientSideRefresh: boolean;
  /** Presence / join / leave identity of this subscriber, with its channel info. */
  info: ClientInfo;
  /** True once the subscribe event was emitted (balances subscription gauges). */
  announced?: boolean;
  /** Fed by a subscribe stream proxy (stream-proxy.ts) instead of the broker: no hub entry. */
  readonly stream?: { readonly handle: SubscribeStream; readonly bidirectional: boolean };
}
