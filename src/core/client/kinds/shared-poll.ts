/**
 * The shared-poll kind (subscription type 4; subscriptions.md §6). Placeholder: the subscribe
 * flow still answers 108 (kinds/unsupported.ts), so no SharedPollSubscription exists yet. The
 * shared-poll change implements `subscribeSharedPollFlow` (§6.3: permission, epoch, no hub
 * entry for the channel), registers it for type 4 in kinds/index.ts, handles track/untrack in
 * sub_refresh (§6.4, §6.6) on the record's `tracked` keys, and fills `release` (drop the
 * connection from every tracked key's hub, clear `tracked`). Shared-poll items do not come
 * from the hub's channel broadcast, so `deliver` stays a no-op.
 */
import type { SharedPollSubscription } from '../subscription.js';
import type { KindOps } from './kind-ops.js';

export const sharedPollKind: KindOps<SharedPollSubscription> = {
  deliver: () => {
    // Shared-poll subscriptions have no channel hub entry: no channel publication reaches them.
  },
  finish: (_c, sub) => {
    sub.state = 'subscribed';
  },
  release: (_c, sub) => {
    sub.tracked = undefined;
  },
};
