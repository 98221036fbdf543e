/** Frame types of outgoing replies and incoming commands, for the traffic counters (metric labels). */
import type { Command, Reply } from '../../protocol/types.js';
import type { FrameType } from '../traffic.js';

/** Request fields in the order the session checks them (client.ts), each its own frame type. */
const COMMANDS = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'send', 'refresh', 'sub_refresh'] as const;

/** The frame type of a reply that answers no command: a push by kind, or a ping. */
export function replyFrameType(reply: Reply): FrameType {
  const p = reply.push;
  if (!p) return 'server_ping';
  if (p.pub) return 'push_publication';
  if (p.join) return 'push_join';
  if (p.leave) return 'push_leave';
  if (p.unsubscribe) return 'push_unsubscribe';
  if (p.message) return 'push_message';
  if (p.subscribe) return 'push_subscribe';
  if (p.connect) return 'push_connect';
  if (p.disconnect) return 'push_disconnect';
  if (p.refresh) return 'push_refresh';
  return 'server_ping';
}

/** The frame type of an incoming command; an empty command is a pong. */
export function commandFrameType(cmd: Command): FrameType {
  for (const k of COMMANDS) if (cmd[k] !== undefined) return k;
  return 'client_pong';
}
