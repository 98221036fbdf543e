/** The sub_refresh command: a client-side subscription token refresh (protocol.md §5.10). */
import { Disconnects, Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import { verifiedSubscribeToken, type TokenRefusals } from './tokens.js';
import type { ClientSession } from './client.js';
import { trackOrUntrack } from './kinds/shared-poll.js';

/** What sub_refresh answers for a refused token: an expired one ends the subscription with 110. */
const SUB_REFRESH_REFUSALS: TokenRefusals = { expired: Errors.expired, invalid: Disconnects.invalidToken, unverifiable: Errors.notAvailable };

export async function handleSubRefresh(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.sub_refresh!;
  const channel = req.channel ?? '';
  if (channel === '') throw Disconnects.badRequest;
  const sub = c.subs.get(channel);
  if (!sub) throw Errors.permissionDenied;
  const type = req.type ?? 0;
  // Track (1) and untrack (2) on a shared-poll subscription; on other kinds they are token refreshes (§6.6).
  if ((type === 1 || type === 2) && sub.kind === 'shared_poll') {
    trackOrUntrack(c, sub, cmd.id ?? 0, req);
    return undefined;
  }
  if (type < 0 || type > 2) throw Errors.notAvailable;
  const token = req.token ?? '';
  if (token === '') throw Errors.badRequest;
  const node = c.node;
  const creds = await verifiedSubscribeToken(c, token, SUB_REFRESH_REFUSALS);
  if (creds.channel !== channel || creds.userId !== c.userId || (creds.client && creds.client !== c.id)) throw Disconnects.invalidToken;
  const expireAt = node.rules.insecure ? 0 : creds.expireAt;
  const nowSec = node.clock.now() / 1000;
  if (expireAt > 0 && expireAt < nowSec) throw Errors.expired;
  sub.expireAt = expireAt;
  sub.clientSideRefresh = expireAt > 0;
  c.watchSubscription(sub);
  if (expireAt > 0) return { sub_refresh: { expires: true, ttl: Math.max(1, Math.min(Math.ceil(expireAt - nowSec), 31_536_000)) } };
  return { sub_refresh: {} };
}
