/**
 * Server-driven refreshes. A connection whose expiry came from the embedding's onConnecting
 * or the connect proxy is renewed at expiry by onRefresh, then the refresh proxy; a
 * subscription whose expiry came from onSubscribe or the subscribe proxy by onSubRefresh,
 * then the namespace's sub_refresh proxy (the client is not asked for a token then). The
 * first that answers decides. A backend that cannot be asked extends the expiry by 60 s (and
 * is asked again then); `expired`, or nobody answering, ends the connection (3005) or the
 * subscription (unsubscribe 2501).
 */
import { Disconnect, Disconnects, Unsubscribes } from '../../protocol/codes.js';
import type { RefreshDecision } from '../handlers.js';
import { ProxyCallError, type SubRefreshProxy } from '../proxy-ports.js';
import type { ClientSession } from './client.js';
import { proxyClientOf, timedProxyCall } from './proxy-calls.js';
import type { Subscription } from './subscription.js';

/** How far a failed refresh call pushes the expiry, in seconds. */
export const FAILED_REFRESH_EXTENSION_SEC = 60;

/** The outcome of asking the chain: a decision, nobody (undefined), or a failure already handled. */
type Asked = { decision: RefreshDecision | undefined } | 'failed';

async function ask(c: ClientSession, hook: string, channel: string | undefined, calls: (() => Promise<RefreshDecision | undefined>)[]): Promise<Asked> {
  try {
    for (const call of calls) {
      const d = await call();
      if (d !== undefined) return { decision: d };
    }
    return { decision: undefined };
  } catch (err) {
    if (c.state !== 'connected') return 'failed';
    if (err instanceof Disconnect) {
      c.close(err);
      return 'failed';
    }
    const why = err instanceof ProxyCallError ? err.message : String(err);
    c.node.faults.log('warn', { client: c.id, hook, channel, err: why }, 'refresh failed', `refresh failed: ${hook}`);
    return 'failed';
  }
}

/** Renews an expiring connection through onRefresh, then the refresh proxy, and applies the answer. */
export async function refreshConnection(c: ClientSession): Promise<void> {
  const node = c.node;
  const calls: (() => Promise<RefreshDecision | undefined>)[] = [];
  const handler = node.handlers.onRefresh;
  if (handler) calls.push(() => handler(c));
  const proxy = node.proxies.refresh;
  if (proxy) calls.push(() => timedProxyCall(c, 'refresh', proxy, () => proxy.refresh(proxyClientOf(c))));
  // Until the answer comes, and if none does, the connection lives a minute more.
  c.expireAt = node.clock.now() / 1000 + FAILED_REFRESH_EXTENSION_SEC;
  const asked = await ask(c, 'refresh', undefined, calls);
  if (c.state !== 'connected') return;
  if (asked === 'failed') {
    c.scheduleExpiry();
    return;
  }
  const d = asked.decision;
  if (d === undefined || d.expired) {
    c.close(Disconnects.expired);
    return;
  }
  c.expireAt = d.expireAt ?? 0;
  if (d.info) c.connInfo = d.info;
  const meta = (d as { meta?: Uint8Array }).meta;
  if (meta) c.meta = meta;
  c.scheduleExpiry();
}

/** Renews an expiring subscription through onSubRefresh, then the namespace's sub_refresh proxy. */
export async function refreshSubscription(c: ClientSession, sub: Subscription, proxy: SubRefreshProxy | undefined): Promise<void> {
  const node = c.node;
  const calls: (() => Promise<RefreshDecision | undefined>)[] = [];
  const handler = node.handlers.onSubRefresh;
  if (handler) calls.push(() => handler(c, sub.channel));
  if (proxy) calls.push(() => timedProxyCall(c, 'sub_refresh', proxy, () => proxy.subRefresh({ ...proxyClientOf(c), channel: sub.channel })));
  // Pushed first, so the periodic check does not ask again while this call is out.
  sub.expireAt = node.clock.now() / 1000 + FAILED_REFRESH_EXTENSION_SEC;
  const asked = await ask(c, 'sub_refresh', sub.channel, calls);
  if (asked === 'failed' || c.state !== 'connected' || c.subs.get(sub.channel) !== sub) return;
  const d = asked.decision;
  if (d === undefined || d.expired) {
    c.serverUnsubscribe(sub.channel, Unsubscribes.expired);
    return;
  }
  sub.expireAt = d.expireAt ?? 0;
  if (d.info) sub.info = { ...sub.info, chan_info: d.info };
}
