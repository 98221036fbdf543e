/** `unsubscribe`: removes a user's connections from a channel (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { requestObject, str } from '../decode.js';
import { channelOptions } from './common.js';

export interface UnsubscribeRequest {
  user: string;
  channel: string;
  client: string;
  session: string;
}

export const unsubscribe: ApiMethod<UnsubscribeRequest> = {
  name: 'unsubscribe',
  decode(params) {
    const o = requestObject(params);
    return { user: str(o, 'user'), channel: str(o, 'channel'), client: str(o, 'client'), session: str(o, 'session') };
  },
  async run(ctx, req) {
    // An empty channel is not rejected (Centrifugo keeps 200 for it); a non-empty one must resolve.
    if (req.channel !== '') channelOptions(ctx.node, req.channel);
    await ctx.node.unsubscribe({
      user: req.user,
      channel: req.channel,
      ...(req.client ? { client: req.client } : {}),
      ...(req.session ? { session: req.session } : {}),
    });
    return {};
  },
};
