/** `rpc`: server-side RPC extensions. Gyre registers none, so any named method is 104 (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { raw, requestObject, str } from '../decode.js';

export interface RpcRequest {
  method: string;
  params: Uint8Array | undefined;
}

export const rpc: ApiMethod<RpcRequest> = {
  name: 'rpc',
  decode(params) {
    const o = requestObject(params);
    return { method: str(o, 'method'), params: raw(o, 'params') };
  },
  async run(_ctx, req) {
    if (req.method === '') throw ApiErrors.badRequest;
    throw ApiErrors.notFound;
  },
};
