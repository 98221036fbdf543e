/** `disconnect`: closes a user's connections with a disconnect code (server.md §4.6). */
import type { ApiDisconnectRequest } from '../../core/index.js';
import type { ApiMethod } from '../method.js';
import { Disconnects } from '../../protocol/index.js';
import { optObject, requestObject, str, strArray, int, UINT32 } from '../decode.js';

export interface DisconnectRequest {
  user: string;
  client: string;
  session: string;
  whitelist: string[];
  /** Undefined when the request named no disconnect (the default 3503 applies). */
  disconnect: { code: number; reason: string } | undefined;
}

export const disconnect: ApiMethod<DisconnectRequest> = {
  name: 'disconnect',
  decode(params) {
    const o = requestObject(params);
    const d = optObject(o, 'disconnect');
    return {
      user: str(o, 'user'),
      client: str(o, 'client'),
      session: str(o, 'session'),
      whitelist: strArray(o, 'whitelist'),
      disconnect: d ? { code: int(d, 'code', UINT32), reason: str(d, 'reason') } : undefined,
    };
  },
  async run(ctx, req) {
    // Code 0 is not a disconnect code: treat it as "not given" and use the default.
    const custom = req.disconnect && req.disconnect.code > 0 ? req.disconnect : undefined;
    const nodeReq: ApiDisconnectRequest = {
      user: req.user,
      code: custom ? custom.code : Disconnects.forceNoReconnect.code,
      reason: custom ? custom.reason : Disconnects.forceNoReconnect.reason,
    };
    if (req.client) nodeReq.client = req.client;
    if (req.session) nodeReq.session = req.session;
    if (req.whitelist.length > 0) nodeReq.whitelist = req.whitelist;
    await ctx.node.disconnect(nodeReq);
    return {};
  },
};
