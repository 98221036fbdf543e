/** `refresh`: extends, expires or re-informs a user's connections (server.md §4.6). */
import type { ApiRefreshRequest } from '../../core/index.js';
import type { ApiMethod } from '../method.js';
import { bool, INT64, int, raw, requestObject, str } from '../decode.js';

export interface RefreshRequest {
  user: string;
  client: string;
  session: string;
  expired: boolean;
  expireAt: number;
  info: Uint8Array | undefined;
}

export const refresh: ApiMethod<RefreshRequest> = {
  name: 'refresh',
  decode(params) {
    const o = requestObject(params);
    return {
      user: str(o, 'user'),
      client: str(o, 'client'),
      session: str(o, 'session'),
      expired: bool(o, 'expired'),
      expireAt: int(o, 'expire_at', INT64),
      info: raw(o, 'info'),
    };
  },
  async run(ctx, req) {
    const nodeReq: ApiRefreshRequest = { user: req.user };
    if (req.client) nodeReq.client = req.client;
    if (req.session) nodeReq.session = req.session;
    if (req.expired) nodeReq.expired = true;
    if (req.expireAt) nodeReq.expireAt = req.expireAt;
    if (req.info) nodeReq.info = req.info;
    await ctx.node.refresh(nodeReq);
    return {};
  },
};
