/**
 * The subscribe command. Routes once, at the top, on the request's `type` to the flow of its
 * kind (kinds/index.ts): stream today; map, map presence and shared poll are refused as before
 * until their modules land. Permission rules and the subscription plan live in subscribe-plan.ts.
 */
import { Disconnects } from '../../protocol/codes.js';
import type { Command, Reply, SubscribeRequest } from '../../protocol/types.js';
import type { ClientSession } from './client.js';
import { subscribeFlowFor } from './kinds/index.js';

/** Not async itself (one asynchronous frame less per subscribe): a refusal here rejects the returned promise. */
export function handleSubscribe(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.subscribe as SubscribeRequest;
  const channel = req.channel ?? '';
  if (channel === '') return Promise.reject(Disconnects.badRequest);
  return subscribeFlowFor(req.type)(c, channel, req);
}
