/** `subscribe`: server-side subscription of a user's active connections to a channel (server.md §4.6). */
import type { ApiSubscribeRequest } from '../../core/index.js';
import type { ApiMethod } from '../method.js';
import { bool, INT64, int, optObject, position, raw, requestObject, str, type JsonObject } from '../decode.js';
import { channelOptions, optionalPayload, requireChannel } from './common.js';

type Override = NonNullable<ApiSubscribeRequest['override']>;

export interface SubscribeRequest {
  user: string;
  channel: string;
  client: string;
  session: string;
  expireAt: number;
  info: Uint8Array | undefined;
  b64info: string;
  data: Uint8Array | undefined;
  b64data: string;
  recoverSince: { offset: number; epoch: string } | undefined;
  override: Override | undefined;
}

const overrideKeys = ['presence', 'join_leave', 'force_recovery', 'force_positioning', 'force_push_join_leave'] as const;

/** Each override is `{"value": bool}`; an absent one leaves the namespace option in force. */
function decodeOverride(o: JsonObject): Override | undefined {
  const src = optObject(o, 'override');
  if (!src) return undefined;
  const out: Override = {};
  let any = false;
  for (const key of overrideKeys) {
    const v = optObject(src, key);
    if (!v) continue;
    out[key] = bool(v, 'value');
    any = true;
  }
  return any ? out : undefined;
}

export const subscribe: ApiMethod<SubscribeRequest> = {
  name: 'subscribe',
  decode(params) {
    const o = requestObject(params);
    return {
      user: str(o, 'user'),
      channel: str(o, 'channel'),
      client: str(o, 'client'),
      session: str(o, 'session'),
      expireAt: int(o, 'expire_at', INT64),
      info: raw(o, 'info'),
      b64info: str(o, 'b64info'),
      data: raw(o, 'data'),
      b64data: str(o, 'b64data'),
      recoverSince: position(o, 'recover_since'),
      override: decodeOverride(o),
    };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    channelOptions(ctx.node, req.channel);
    const data = optionalPayload(req.data, req.b64data);
    const info = optionalPayload(req.info, req.b64info);
    const nodeReq: ApiSubscribeRequest = { user: req.user, channel: req.channel };
    if (req.client) nodeReq.client = req.client;
    if (req.session) nodeReq.session = req.session;
    if (req.expireAt) nodeReq.expireAt = req.expireAt;
    if (info) nodeReq.info = info;
    if (data) nodeReq.data = data;
    if (req.recoverSince) nodeReq.recoverSince = req.recoverSince;
    if (req.override) nodeReq.override = req.override;
    await ctx.node.subscribe(nodeReq);
    return {};
  },
};
