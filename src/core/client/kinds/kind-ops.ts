/** The operations every subscription kind implements; kinds/index.ts holds one entry per kind. */
import type { BrokerPublication, StreamPosition } from '../../ports.js';
import type { ClientSession } from '../client.js';
import type { Subscription } from '../subscription.js';

/**
 * What the session and the hub ask of a subscription, whatever its kind. Installing is each
 * kind's own subscribe flow (kinds/index.ts `subscribeFlows`), since the requests differ.
 */
export interface KindOps<S extends Subscription> {
  /**
   * A live publication from the hub, already encoded for this subscriber's delivery variant;
   * `item` undefined: the subscriber's tags filter rejected it, only the position moves.
   * Called for open sessions only. Hot path: must not allocate in the common case.
   */
  deliver(c: ClientSession, sub: S, pub: BrokerPublication, position: StreamPosition, item: Uint8Array | undefined): void;
  /** The subscribe reply (or push) is queued: become 'subscribed' and flush what was buffered. */
  finish(c: ClientSession, sub: S): void;
  /**
   * The subscription is being removed (already gone from `c.subs`): release what the kind holds
   * outside the session (hub entry and broker interest, a backend stream, tracked keys).
   * Presence, leave and events are handled by the caller for every kind alike.
   */
  release(c: ClientSession, sub: S): void;
}
