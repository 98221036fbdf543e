/**
 * The subscription kinds' dispatch tables. `subscribeFlows` routes a subscribe command on its
 * request `type` (once, at the top of handleSubscribe); `kindOps` routes what the session and
 * the hub do with an installed subscription on its `kind`. Adding a kind means adding its
 * module and its entries here. The one shortcut: ClientSession.deliverPublication calls the
 * stream kind's deliverStream directly (the per-delivery hot path) and this table otherwise.
 */
import type { Reply, SubscribeRequest } from '../../../protocol/types.js';
import { SubscribeTypes, type SubscribeType } from '../../../protocol/subscribe-types.js';
import type { ClientSession } from '../client.js';
import type { Subscription, SubscriptionKind } from '../subscription.js';
import type { KindOps } from './kind-ops.js';
import { streamKind, subscribeStreamFlow } from './stream.js';
import { mapKind, subscribeMapFlow } from './map.js';
import { sharedPollKind, subscribeSharedPollFlow } from './shared-poll.js';
import { refuseSubscribeType } from './unsupported.js';

export type { KindOps } from './kind-ops.js';

/**
 * One subscribe command of a given request type, after the channel was found non-empty. Returns
 * the reply fields; work that must follow the reply goes through c.onAfterReply.
 */
export type SubscribeFlow = (c: ClientSession, channel: string, req: SubscribeRequest) => Promise<Reply>;

/** The flow for each request type; types without an entry take `refuseSubscribeType`. */
export const subscribeFlows: Readonly<Record<SubscribeType, SubscribeFlow>> = Object.freeze({
  [SubscribeTypes.stream]: subscribeStreamFlow,
  [SubscribeTypes.map]: subscribeMapFlow,
  [SubscribeTypes.mapClients]: subscribeMapFlow,
  [SubscribeTypes.mapUsers]: subscribeMapFlow,
  [SubscribeTypes.sharedPoll]: subscribeSharedPollFlow,
});

/** The flow serving a request type (absent = 0, stream); unknown numbers are refused. */
export function subscribeFlowFor(type: number | undefined): SubscribeFlow {
  return (subscribeFlows as Readonly<Record<number, SubscribeFlow | undefined>>)[type ?? SubscribeTypes.stream] ?? refuseSubscribeType;
}

/** Each kind's operations, keyed by `Subscription.kind`. */
export const kindOps: { readonly [K in SubscriptionKind]: KindOps<Extract<Subscription, { kind: K }>> } = Object.freeze({
  stream: streamKind,
  map: mapKind,
  shared_poll: sharedPollKind,
});

/** The operations of `sub`'s kind, typed for the whole union (the entry matches `sub.kind`). */
export function opsOf(sub: Subscription): KindOps<Subscription> {
  return kindOps[sub.kind] as KindOps<Subscription>;
}
