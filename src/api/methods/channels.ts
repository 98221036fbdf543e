/** `channels`: active channels with subscriber counts, optionally filtered by a glob (server.md §4.6). */
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { requestObject, str } from '../decode.js';
import { compileChannelGlob } from '../glob.js';

export interface ChannelsRequest {
  pattern: string;
}

export const channels: ApiMethod<ChannelsRequest> = {
  name: 'channels',
  decode(params) {
    return { pattern: str(requestObject(params), 'pattern') };
  },
  async run(ctx, req) {
    let match: ((channel: string) => boolean) | undefined;
    if (req.pattern !== '') {
      try {
        match = compileChannelGlob(req.pattern);
      } catch {
        throw ApiErrors.internal;
      }
    }
    const all = await ctx.node.channels();
    // Null prototype: a channel may be named `__proto__`.
    const out = Object.create(null) as Record<string, { num_clients: number }>;
    for (const [name, stats] of Object.entries(all)) {
      if (stats.num_clients < 1) continue;
      if (match && !match(name)) continue;
      out[name] = { num_clients: stats.num_clients };
    }
    return { channels: out };
  },
};
