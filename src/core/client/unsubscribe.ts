/** The unsubscribe command: always succeeds; waits for an in-flight subscribe of the same channel. */
import { Disconnects, Unsubscribes } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import type { ClientSession } from './client.js';

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
  if (sub) await c.removeSubscription(sub, true, Unsubscribes.client);
  return { unsubscribe: {} };
}
