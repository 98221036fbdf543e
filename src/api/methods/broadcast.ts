/** `broadcast`: the same publication into many channels, one reply per channel (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import type { ApiErrorBody } from '../errors.js';
import { ApiErrors } from '../errors.js';
import { requestObject, strArray } from '../decode.js';
import { mapLimited } from '../concurrency.js';
import { channelOptions, payload, publishResultJson, validateDataFormat } from './common.js';
import { decodePublishFields, nodePublishRequest, type PublishFields } from './publish.js';

export interface BroadcastRequest extends PublishFields {
  channels: string[];
}

/** At most this many channel publishes are in flight at once. */
export const BROADCAST_MAX_CONCURRENCY = 1024;

type ChannelReply = { result: object } | { error: ApiErrorBody };

export const broadcast: ApiMethod<BroadcastRequest> = {
  name: 'broadcast',
  decode(params) {
    const o = requestObject(params);
    return { channels: strArray(o, 'channels'), ...decodePublishFields(o) };
  },
  async run(ctx, req) {
    if (req.channels.length === 0) throw ApiErrors.badRequest;
    const data = payload(req.data, req.b64data);
    const responses = await mapLimited(req.channels, BROADCAST_MAX_CONCURRENCY, async (channel): Promise<ChannelReply> => {
      try {
        if (channel === '') throw ApiErrors.badRequest;
        // Broadcast does not check subscription_type (unlike publish).
        const opts = channelOptions(ctx.node, channel);
        validateDataFormat(data, opts.publication_data_format);
        const res = await ctx.node.publish(nodePublishRequest(channel, data, req, opts.delta_publish));
        return { result: publishResultJson(res) };
      } catch (err) {
        return { error: ctx.fail(err, 'broadcast', { channel }) };
      }
    });
    return { responses };
  },
};
