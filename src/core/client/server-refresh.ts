/**
 * Server-driven refreshes: a connection whose expiry came from the connect proxy is
 * refreshed through the refresh proxy when it expires, and a subscription whose expiry came
 * from the subscribe proxy through the namespace's sub_refresh proxy, instead of waiting for
 * the client to bring a new token. A backend that cannot be asked extends the expiry by 60 s
 * (and is asked again then); a missing or `expired` result ends the connection (3005) or the
 * subscription (unsubscribe 3005-style `expired`).
 */
import { Disconnect, Disconnects, Unsubscribes } from '../../protocol/codes.js';
import { ProxyCallError, type SubRefreshProxy } from '../proxy-ports.js';
import type { ClientSession } from './client.js';
import { proxyClientOf, timedProxyCall } from './proxy-calls.js';
import type { Subscription } from './subscription.js';

/** How far a failed refresh call pushes the expiry, in seconds. */
export const FAILED_REFRESH_EXTENSION_SEC = 60;

/** Asks the refresh proxy about an expiring connection and applies the answer. */
export async function refreshConnection(c: ClientSession): Promise<void> {
  const node = c.node;
  const proxy = node.proxies.refresh;
  if (!proxy) {
    c.close(Disconnects.expired);
    return;
  }
  // Until the answer comes, and if none does, the connection lives a minute more.
  c.expireAt = node.clock.now() / 1000 + FAILED_REFRESH_EXTENSION_SEC;
  let r;
  try {
    r = await timedProxyCall(c, 'refresh', proxy, () => proxy.refresh(proxyClientOf(c)));
  } catch (err) {
    if (c.state !== 'connected') return;
    if (err instanceof Disconnect) {
      c.close(err);
      return;
    }
    const why = err instanceof ProxyCallError ? err.message : String(err);
    node.faults.log('warn', { client: c.id, hook: 'refresh', err: why }, 'proxy call failed', 'proxy call failed: refresh');
    c.scheduleExpiry();
    return;
  }
  if (c.state !== 'connected') return;
  if (r.expired) {
    c.close(Disconnects.expired);
    return;
  }
  c.expireAt = r.expireAt;
  if (r.info) c.connInfo = r.info;
  if (r.meta) c.meta = r.meta;
  c.scheduleExpiry();
}

/** Asks the sub_refresh proxy about an expiring subscription and applies the answer. */
export async function refreshSubscription(c: ClientSession, sub: Subscription, proxy: SubRefreshProxy): Promise<void> {
  const node = c.node;
  // Pushed first, so the periodic check does not ask again while this call is out.
  sub.expireAt = node.clock.now() / 1000 + FAILED_REFRESH_EXTENSION_SEC;
  let r;
  try {
    r = await timedProxyCall(c, 'sub_refresh', proxy, () => proxy.subRefresh({ ...proxyClientOf(c), channel: sub.channel }));
  } catch (err) {
    if (c.state !== 'connected' || c.subs.get(sub.channel) !== sub) return;
    if (err instanceof Disconnect) {
      c.close(err);
      return;
    }
    const why = err instanceof ProxyCallError ? err.message : String(err);
    node.faults.log('warn', { client: c.id, hook: 'sub_refresh', channel: sub.channel, err: why }, 'proxy call failed', 'proxy call failed: sub_refresh');
    return;
  }
  if (c.state !== 'connected' || c.subs.get(sub.channel) !== sub) return;
  if (r.expired) {
    c.serverUnsubscribe(sub.channel, Unsubscribes.expired);
    return;
  }
  sub.expireAt = r.expireAt;
  if (r.info) sub.info = { ...sub.info, chan_info: r.info };
}
