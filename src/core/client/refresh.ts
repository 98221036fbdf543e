/** The refresh command: a client-side connection token refresh (protocol.md §5.9). */
import { Disconnects, Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import { verifiedConnectToken, type TokenRefusals } from './tokens.js';
import type { ClientSession } from './client.js';

/** What refresh answers for a refused token. */
const REFRESH_REFUSALS: TokenRefusals = { expired: Disconnects.expired, invalid: Disconnects.invalidToken, unverifiable: Errors.notAvailable };

export async function handleRefresh(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const token = cmd.refresh?.token ?? '';
  if (token === '') throw Disconnects.badRequest;
  const node = c.node;
  const creds = await verifiedConnectToken(c, token, REFRESH_REFUSALS);
  if (creds.userId !== c.userId) throw Disconnects.invalidToken;
  const expireAt = node.rules.insecure ? 0 : creds.expireAt;
  const nowSec = node.clock.now() / 1000;
  if (expireAt > 0 && expireAt < nowSec) throw Errors.expired;
  const channels = (creds.subs ? Object.keys(creds.subs) : (creds.channels ?? [])).slice().sort();
  if (channels.join('\u0000') !== c.tokenChannels.join('\u0000')) throw Disconnects.insufficientState;
  if (creds.info) c.connInfo = creds.info;
  if (creds.meta) c.meta = creds.meta;
  c.expireAt = expireAt;
  c.scheduleExpiry();
  if (expireAt > 0) return { refresh: { expires: true, ttl: Math.max(1, Math.min(Math.ceil(expireAt - nowSec), 31_536_000)) } };
  return { refresh: {} };
}
