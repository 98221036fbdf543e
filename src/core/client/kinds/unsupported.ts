/**
 * The subscribe flow for request types Gyre does not serve yet (map, map_clients, map_users,
 * unknown numbers). It answers exactly as the single stream flow answered them before flows
 * were split per type: the generic checks first (3501, 107, 105, 106), then the channel (102,
 * 107), then the type: 103 in a namespace served by a subscribe stream proxy, otherwise 107
 * in a shared-poll namespace and 103 for the rest.
 */
import { Errors } from '../../../protocol/codes.js';
import type { Reply, SubscribeRequest } from '../../../protocol/types.js';
import type { ClientSession } from '../client.js';
import { checkNewSubscription, checkTypeMatch } from '../subscribe-plan.js';
import { streamBindingFor } from '../stream-proxy.js';

export async function refuseSubscribeType(c: ClientSession, channel: string, req: SubscribeRequest): Promise<Reply> {
  checkNewSubscription(c, channel, req);
  const resolver = c.node.resolver;
  const resolved = resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!resolver.validName(channel, resolved)) throw Errors.badRequest;
  if (streamBindingFor(c, channel)) throw Errors.permissionDenied;
  checkTypeMatch(req.type ?? 0, resolved.options);
  // checkTypeMatch accepts only stream and shared-poll requests in their namespaces, which never come here.
  throw Errors.permissionDenied;
}
