/**
 * The periodic subscription check of a connection (one shared timer-wheel timer per session,
 * armed only while some subscription needs it): presence refresh, and subscription expiry
 * (renewed by onSubRefresh or the sub_refresh proxy, else unsubscribed or disconnected).
 */
import { Disconnects, Unsubscribes } from '../../protocol/codes.js';
import type { ClientSession } from './client.js';
import { refreshSubscription } from './server-refresh.js';
import type { Subscription } from './subscription.js';
import { writeMapPresence } from './kinds/map.js';

/** Whether a subscription needs the periodic check: presence (or map presence) to refresh or an expiry to enforce. */
export function needsTick(sub: Subscription): boolean {
  return sub.emitPresence || sub.expireAt > 0 || (sub.kind === 'map' && sub.mapPresence === true);
}

/**
 * Runs one check over the subscriptions of a connected session. Returns true when the check
 * must run again (some subscription still needs it), false when none does or the session closed.
 */
export function tickSubscriptions(c: ClientSession): boolean {
  const node = c.node;
  const nowSec = node.clock.now() / 1000;
  let again = false;
  // Map iteration tolerates the deletes serverUnsubscribe makes.
  for (const sub of c.subs.values()) {
    if (!needsTick(sub)) continue;
    again = true;
    if (sub.state !== 'subscribed') continue;
    if (sub.expireAt > 0 && !sub.clientSideRefresh && nowSec >= sub.expireAt && !sub.serverSide) {
      const proxy = node.proxies.subRefresh(node.resolver.resolve(sub.channel)?.namespace ?? '');
      if (proxy || node.handlers.onSubRefresh) {
        void refreshSubscription(c, sub, proxy);
        continue;
      }
    }
    if (sub.expireAt > 0 && nowSec > sub.expireAt + node.rules.expiredSubCloseDelayMs / 1000) {
      if (sub.serverSide) {
        c.close(Disconnects.subExpired);
        return false;
      }
      c.serverUnsubscribe(sub.channel, Unsubscribes.expired);
      continue;
    }
    if (sub.emitPresence) {
      node.traffic.actions.add_presence++;
      node.presenceManager.addPresence(sub.channel, c.id, sub.info).catch((err: unknown) => {
        node.logger.warn({ client: c.id, channel: sub.channel, err }, 'presence update failed');
      });
    }
    // Map presence entries (§5.9) get their key TTL pushed, without a broadcast.
    if (sub.kind === 'map' && sub.mapPresence) writeMapPresence(c, sub);
  }
  return again;
}
