/**
 * The map kind (subscription types 1, 2, 3; subscriptions.md §5). Placeholder: the subscribe
 * flow still refuses map requests (kinds/unsupported.ts), so no MapSubscription exists yet.
 * The map change implements `subscribeMapFlow` (STATE / STREAM / LIVE phases over the
 * MapBroker port, core/map-broker.ts), registers it for the three map types in kinds/index.ts,
 * and fills these operations: live delivery by key with positioning (§5.7), flushing the
 * transition buffer (§5.6) and releasing the map broker interest and map presence (§5.9).
 */
import type { MapSubscription } from '../subscription.js';
import type { KindOps } from './kind-ops.js';

export const mapKind: KindOps<MapSubscription> = {
  deliver: () => {
    // No map subscription is installed yet: nothing reaches here.
  },
  finish: (_c, sub) => {
    sub.buffer = undefined;
    sub.state = 'subscribed';
  },
  release: () => {
    // Nothing is held outside the session yet.
  },
};
