/** The history command (subscriptions.md §1.10). */
import { Disconnects, Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import { historyEnabled } from '../channels.js';
import type { ClientSession } from './client.js';
import { hasAccess } from './subscribe-plan.js';
import { toWirePublication } from './kinds/stream.js';

export async function handleHistory(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.history!;
  const channel = req.channel ?? '';
  if (channel === '') throw Disconnects.badRequest;
  const node = c.node;
  const resolved = node.resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!node.resolver.validName(channel, resolved)) throw Errors.badRequest;
  const o = resolved.options;
  if (!historyEnabled(o)) throw Errors.notAvailable;
  const sub = c.subs.get(channel);
  if (!hasAccess(c, o.allow_history_for_client, o.allow_history_for_subscriber, o.allow_history_for_anonymous, sub?.state === 'subscribed')) {
    throw Errors.permissionDenied;
  }
  const res = await node.readHistory(channel, o, {
    limit: req.limit ?? 0,
    since: req.since ? { offset: req.since.offset ?? 0, epoch: req.since.epoch ?? '' } : undefined,
    reverse: !!req.reverse,
    maxLimit: node.rules.historyMaxPublicationLimit,
  });
  return { history: { publications: res.publications.map(toWirePublication), epoch: res.epoch, offset: res.offset } };
}
