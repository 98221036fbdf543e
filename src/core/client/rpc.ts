/** The rpc command: the built-in ping method, the embedding hook, the RPC proxy, or 104/108 when nothing answers. */
import { Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import type { ClientSession } from './client.js';
import { callProxy, proxyClientOf } from './proxy-calls.js';

export async function handleRpc(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.rpc!;
  const method = req.method ?? '';
  const node = c.node;
  if (node.rpcPing.enabled && method === node.rpcPing.method) return { rpc: {} };
  const payload = req.data ?? new Uint8Array(0);
  // The chain: the embedding's hook, then the RPC proxy of the method's namespace.
  if (node.handlers.onRpc) {
    const data = await node.handlers.onRpc({ client: c, method, data: payload });
    if (data !== undefined) return { rpc: data.length > 0 ? { data } : {} };
  }
  const proxy = node.proxies.rpc(method);
  if (proxy) {
    const data = await callProxy(c, 'rpc', proxy, () => proxy.rpc({ ...proxyClientOf(c), method, data: payload }));
    return { rpc: data.length > 0 ? { data } : {} };
  }
  if (node.handlers.onRpc || node.rpcPing.enabled) throw Errors.methodNotFound;
  throw Errors.notAvailable;
}
