/** `history_remove`: drops a channel's publications, keeping its epoch and top offset (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { channelOptions, historyEnabled, requireChannel } from './common.js';
import { decodeChannelRequest, type ChannelRequest } from './presence.js';

export const historyRemove: ApiMethod<ChannelRequest> = {
  name: 'history_remove',
  decode: decodeChannelRequest,
  async run(ctx, req) {
    requireChannel(req.channel);
    if (!historyEnabled(channelOptions(ctx.node, req.channel))) throw ApiErrors.notAvailable;
    await ctx.node.historyRemove(req.channel);
    return {};
  },
};
