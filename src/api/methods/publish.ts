/** `publish`: one publication into one stream channel (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { bool, int, raw, requestObject, str, strMap, UINT64 } from '../decode.js';
import { channelOptions, payload, publishResultJson, requireChannel, validateDataFormat } from './common.js';

/** Fields shared by publish and broadcast. */
export interface PublishFields {
  data: Uint8Array | undefined;
  b64data: string;
  skipHistory: boolean;
  tags: Record<string, string> | undefined;
  idempotencyKey: string;
  delta: boolean;
  version: number;
  versionEpoch: string;
}

export interface PublishRequest extends PublishFields {
  channel: string;
}

/** Reads the publish fields shared with broadcast. */
export function decodePublishFields(o: Record<string, unknown>): PublishFields {
  return {
    data: raw(o, 'data'),
    b64data: str(o, 'b64data'),
    skipHistory: bool(o, 'skip_history'),
    tags: strMap(o, 'tags'),
    idempotencyKey: str(o, 'idempotency_key'),
    delta: bool(o, 'delta'),
    version: int(o, 'version', UINT64),
    versionEpoch: str(o, 'version_epoch'),
  };
}

/** Node request for one channel; `deltaPublish` comes from that channel's namespace. */
export function nodePublishRequest(channel: string, data: Uint8Array, f: PublishFields, deltaPublish: boolean | undefined) {
  return {
    channel,
    data,
    ...(f.skipHistory ? { skipHistory: true } : {}),
    ...(f.tags ? { tags: f.tags } : {}),
    ...(f.idempotencyKey ? { idempotencyKey: f.idempotencyKey } : {}),
    ...(f.delta || deltaPublish ? { delta: true } : {}),
    ...(f.version > 0 ? { version: f.version } : {}),
    ...(f.versionEpoch ? { versionEpoch: f.versionEpoch } : {}),
  };
}

export const publish: ApiMethod<PublishRequest> = {
  name: 'publish',
  decode(params) {
    const o = requestObject(params);
    return { channel: str(o, 'channel'), ...decodePublishFields(o) };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    const data = payload(req.data, req.b64data);
    const opts = channelOptions(ctx.node, req.channel);
    const type = opts.subscription_type ?? '';
    if (type !== '' && type !== 'stream') throw ApiErrors.badRequest;
    validateDataFormat(data, opts.publication_data_format);
    const res = await ctx.node.publish(nodePublishRequest(req.channel, data, req, opts.delta_publish));
    return publishResultJson(res);
  },
};
