/**
 * `batch`: many commands in one request, `{"commands":[{"publish":{...}}, ...], "parallel": bool}`
 * (server.md §4.4). Replies come back in command order, each `{"<method>": result}` or `{"error": ...}`.
 */
import type { ApiMethod, MethodRegistry } from '../method.js';
import { ApiErrors } from '../errors.js';
import { bool, DecodeError, requestObject } from '../decode.js';
import { mapLimited } from '../concurrency.js';

/** Which key of a command object is taken when several are present (Centrifugo's order). */
const KEY_ORDER = [
  'publish',
  'broadcast',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'history',
  'history_remove',
  'presence',
  'presence_stats',
  'info',
  'rpc',
  'refresh',
  'channels',
  'map_publish',
  'map_remove',
  'map_read_state',
  'map_read_stream',
  'map_stats',
  'map_clear',
  'shared_poll_publish',
] as const;

/** A decoded batch command: a `null` entry, one without a known method key, or a runnable call. */
export type BatchCommand =
  | { kind: 'null' }
  | { kind: 'unknown' }
  | { kind: 'call'; method: ApiMethod<unknown>; req: unknown };

export interface BatchRequest {
  commands: BatchCommand[];
  parallel: boolean;
}

/** At most this many commands run at once in a parallel batch. */
export const BATCH_MAX_CONCURRENCY = 1024;

function decodeCommand(value: unknown, index: number, registry: MethodRegistry): BatchCommand {
  if (value === null) return { kind: 'null' };
  const o = requestObject(value, `commands[${index}]`);
  for (const key of KEY_ORDER) {
    const params = o[key];
    if (params === undefined || params === null) continue;
    const method = registry.get(key);
    if (!method) return { kind: 'unknown' };
    // A body that does not fit the method's request type fails the whole batch, as one JSON document.
    return { kind: 'call', method, req: method.decode(params, registry) };
  }
  return { kind: 'unknown' };
}

export const batch: ApiMethod<BatchRequest> = {
  name: 'batch',
  decode(params, registry) {
    const o = requestObject(params);
    const list = o['commands'];
    let commands: BatchCommand[] = [];
    if (list !== undefined && list !== null) {
      if (!Array.isArray(list)) throw new DecodeError('commands must be an array');
      commands = list.map((c: unknown, i) => decodeCommand(c, i, registry));
    }
    return { commands, parallel: bool(o, 'parallel') };
  },
  async run(ctx, req) {
    const runOne = async (cmd: BatchCommand): Promise<object> => {
      if (cmd.kind === 'null') return { error: ApiErrors.badRequest.toBody() };
      if (cmd.kind === 'unknown') return { error: ApiErrors.notFound.toBody() };
      try {
        return { [cmd.method.name]: await cmd.method.run(ctx, cmd.req) };
      } catch (err) {
        return { error: ctx.fail(err, cmd.method.name) };
      }
    };
    let replies: object[];
    if (req.parallel) {
      replies = await mapLimited(req.commands, BATCH_MAX_CONCURRENCY, runOne);
    } else {
      replies = [];
      for (const cmd of req.commands) replies.push(await runOne(cmd));
    }
    return { replies };
  },
};
