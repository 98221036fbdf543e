/** The asynchronous send command: handed to the embedding hook; without one the client learns nothing listens (3508). */
import { Disconnects } from '../../protocol/codes.js';
import type { Command, Reply } from '../../protocol/types.js';
import type { ClientSession } from './client.js';

export async function handleSend(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const onMessage = c.node.handlers.onMessage;
  if (!onMessage) throw Disconnects.notAvailable;
  onMessage(c, cmd.send?.data ?? new Uint8Array(0));
  return undefined;
}
