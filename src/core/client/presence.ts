/** The presence and presence_stats commands. */
import { Disconnects, Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import type { ChannelOptions } from '../channel-options.js';
import type { ClientSession } from './client.js';
import { hasAccess } from './subscribe-plan.js';

function check(c: ClientSession, channel: string): ChannelOptions {
  if (channel === '') throw Disconnects.badRequest;
  const resolved = c.node.resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!c.node.resolver.validName(channel, resolved)) throw Errors.badRequest;
  const o = resolved.options;
  if (!o.presence) throw Errors.notAvailable;
  const sub = c.subs.get(channel);
  if (!hasAccess(c, o.allow_presence_for_client, o.allow_presence_for_subscriber, o.allow_presence_for_anonymous, sub?.state === 'subscribed')) {
    throw Errors.permissionDenied;
  }
  return o;
}

export async function handlePresence(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const channel = cmd.presence?.channel ?? '';
  check(c, channel);
  c.node.traffic.actions.presence++;
  const presence = await c.node.presenceManager.presence(channel);
  return { presence: { presence } };
}

export async function handlePresenceStats(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const channel = cmd.presence_stats?.channel ?? '';
  check(c, channel);
  c.node.traffic.actions.presence_stats++;
  const s = await c.node.presenceManager.presenceStats(channel);
  return { presence_stats: { num_clients: s.numClients, num_users: s.numUsers } };
}
