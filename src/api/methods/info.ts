/** `info`: the live nodes of the cluster with their counters (server.md §4.6). */
import type { NodeInfo } from '../../core/index.js';
import type { ApiMethod } from '../method.js';
import { requestObject } from '../decode.js';

function nodeJson(n: NodeInfo): object {
  return {
    uid: n.uid,
    name: n.name,
    version: n.version,
    num_clients: n.num_clients,
    num_users: n.num_users,
    num_channels: n.num_channels,
    ...(n.uptime ? { uptime: n.uptime } : {}),
    num_subs: n.num_subs,
    ...(n.consumers && n.consumers.length > 0 ? { consumers: n.consumers } : {}),
  };
}

export const info: ApiMethod<Record<string, never>> = {
  name: 'info',
  decode(params) {
    requestObject(params);
    return {};
  },
  async run(ctx) {
    const res = await ctx.node.info();
    return { nodes: res.nodes.map(nodeJson) };
  },
};
