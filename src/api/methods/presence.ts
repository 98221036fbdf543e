/** `presence`: who is subscribed to a channel (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { requestObject, str } from '../decode.js';
import { channelOptions, clientInfoJson, requireChannel, type ClientInfoJson } from './common.js';

export interface ChannelRequest {
  channel: string;
}

/** Decodes a request whose only field is `channel`. */
export function decodeChannelRequest(params: unknown): ChannelRequest {
  return { channel: str(requestObject(params), 'channel') };
}

export const presence: ApiMethod<ChannelRequest> = {
  name: 'presence',
  decode: decodeChannelRequest,
  async run(ctx, req) {
    requireChannel(req.channel);
    if (!channelOptions(ctx.node, req.channel).presence) throw ApiErrors.notAvailable;
    const entries = await ctx.node.presence(req.channel);
    const out: Record<string, ClientInfoJson> = Object.create(null) as Record<string, ClientInfoJson>;
    for (const [clientId, info] of Object.entries(entries)) out[clientId] = clientInfoJson(info);
    return { presence: out };
  },
};
