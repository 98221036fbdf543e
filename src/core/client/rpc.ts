/** The rpc command: the built-in ping method, the embedding hook, or 108 when nothing answers. */
import { Errors } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import type { ClientSession } from './client.js';

export async function handleRpc(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.rpc!;
  const method = req.method ?? '';
  const node = c.node;
  if (node.rpcPing.enabled && method === node.rpcPing.method) return { rpc: {} };
  if (!node.handlers.onRpc) {
    if (node.rpcPing.enabled) throw Errors.methodNotFound;
    throw Errors.notAvailable;
  }
  const data = await node.handlers.onRpc({ client: c, method, data: req.data ?? new Uint8Array(0) });
  if (data === undefined) throw Errors.methodNotFound;
  return { rpc: data.length > 0 ? { data } : {} };
}
