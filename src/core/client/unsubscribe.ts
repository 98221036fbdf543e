/**
 * The unsubscribe command (always succeeds; waits for an in-flight subscribe of the same
 * channel) and the removal every unsubscribe, server unsubscribe and disconnect goes through.
 */
import { Disconnects, Unsubscribes } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import type { EndReason } from '../handlers.js';
import type { ClientSession } from './client.js';
import type { Subscription } from './subscription.js';
import { opsOf } from './kinds/index.js';

const waitLimitMs = 5000;

export async function handleUnsubscribe(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const channel = cmd.unsubscribe?.channel ?? '';
  if (channel === '') throw Disconnects.badRequest;
  const inflight = c.pending?.get(channel);
  if (inflight) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      inflight.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), waitLimitMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) throw Disconnects.serverError;
  }
  const sub = c.subs.get(channel);
  if (sub) await removeSubscription(c, sub, true, Unsubscribes.client);
  return { unsubscribe: {} };
}

/**
 * Drops a subscription: what its kind holds (hub entry and broker interest, a backend stream),
 * presence, the leave message, the unsubscribe event and handler. `why` is the unsubscribe code
 * and reason (2000 and up: the server's). A subscription no longer current is left alone.
 */
export async function removeSubscription(c: ClientSession, sub: Subscription, emitLeave: boolean, why: EndReason): Promise<void> {
  if (c.subs.get(sub.channel) !== sub) return;
  const serverCode = why.code >= 2000 ? why.code : undefined;
  c.subs.delete(sub.channel);
  const node = c.node;
  opsOf(sub).release(c, sub);
  const tasks: Promise<void>[] = [];
  if (sub.emitPresence) {
    node.traffic.actions.remove_presence++;
    tasks.push(node.presenceManager.removePresence(sub.channel, c.id, c.userId));
  }
  if (emitLeave && sub.emitJoinLeave && sub.state === 'subscribed') {
    node.traffic.brokerSent.leave++;
    tasks.push(node.broker.publishLeave(sub.channel, sub.info));
  }
  node.events.emit('unsubscribe', {
    channel: sub.channel,
    client: c.id,
    clientName: c.clientName,
    user: c.userId,
    announced: !!sub.announced,
    serverCode,
    code: why.code,
    reason: why.reason,
  });
  if (sub.announced && node.handlers.onUnsubscribe) {
    try {
      node.handlers.onUnsubscribe(c, sub.channel, { code: why.code, reason: why.reason });
    } catch (err) {
      node.logger.warn({ client: c.id, channel: sub.channel, err }, 'onUnsubscribe handler failed');
    }
  }
  try {
    await Promise.all(tasks);
  } catch (err) {
    node.logger.warn({ client: c.id, channel: sub.channel, err }, 'unsubscribe cleanup failed');
  }
}
