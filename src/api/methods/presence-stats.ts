/** `presence_stats`: client and user counts of a channel (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { channelOptions, requireChannel } from './common.js';
import { decodeChannelRequest, type ChannelRequest } from './presence.js';

export const presenceStats: ApiMethod<ChannelRequest> = {
  name: 'presence_stats',
  decode: decodeChannelRequest,
  async run(ctx, req) {
    requireChannel(req.channel);
    if (!channelOptions(ctx.node, req.channel).presence) throw ApiErrors.notAvailable;
    const stats = await ctx.node.presenceStats(req.channel);
    return { num_clients: stats.num_clients, num_users: stats.num_users };
  },
};
