/** `history`: publications and the current position of a channel stream (server.md §4.6). */
import type { ApiHistoryRequest } from '../../core/index.js';
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { bool, INT32, int, position, requestObject, str } from '../decode.js';
import { channelOptions, historyEnabled, publicationJson, requireChannel } from './common.js';

export interface HistoryRequest {
  channel: string;
  limit: number;
  since: { offset: number; epoch: string } | undefined;
  reverse: boolean;
}

export const history: ApiMethod<HistoryRequest> = {
  name: 'history',
  decode(params) {
    const o = requestObject(params);
    return { channel: str(o, 'channel'), limit: int(o, 'limit', INT32), since: position(o, 'since'), reverse: bool(o, 'reverse') };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    if (!historyEnabled(channelOptions(ctx.node, req.channel))) throw ApiErrors.notAvailable;
    const nodeReq: ApiHistoryRequest = { channel: req.channel, limit: req.limit };
    if (req.since) nodeReq.since = req.since;
    if (req.reverse) nodeReq.reverse = true;
    // An epoch mismatch in `since` comes back from the node as ProtocolError 112.
    const res = await ctx.node.history(nodeReq);
    return { publications: res.publications.map(publicationJson), epoch: res.epoch, offset: res.offset };
  },
};
