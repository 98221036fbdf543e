/**
 * The legacy single-route format (`POST /api`, also the admin API): a stream of
 * `{"id","method","params"}` objects answered by newline-joined `{"id","result"|"error"}` (server.md §4.5).
 */
import type { ApiExecutor, ApiReply } from './executor.js';
import { ApiErrors } from './errors.js';
import { encodeJson } from './raw-json.js';
import { JsonStreamError, parseJsonStream } from './json-stream.js';

/** The numeric method enum of the legacy format; string names are these, case-insensitive. */
const METHOD_ENUM: ReadonlyMap<number, string> = new Map([
  [0, 'publish'],
  [1, 'broadcast'],
  [2, 'unsubscribe'],
  [3, 'disconnect'],
  [4, 'presence'],
  [5, 'presence_stats'],
  [6, 'history'],
  [7, 'history_remove'],
  [8, 'channels'],
  [9, 'info'],
  [10, 'rpc'],
  [11, 'subscribe'],
  [12, 'refresh'],
  [33, 'map_publish'],
  [34, 'map_remove'],
  [35, 'map_read_state'],
  [36, 'map_read_stream'],
  [37, 'map_stats'],
  [38, 'map_clear'],
  [39, 'shared_poll_publish'],
]);

const METHOD_NAMES: ReadonlySet<string> = new Set(METHOD_ENUM.values());

export interface LegacyCommand {
  /** 0 when absent. */
  id: number;
  /** Method name, or undefined when the command names no method of the enum (→ 104). */
  method: string | undefined;
  params: unknown;
}

/** Resolves a legacy `method` value (absent = publish, as the enum's zero value). */
function legacyMethod(v: unknown): string | undefined {
  if (v === undefined || v === null) return 'publish';
  if (typeof v === 'string') {
    const name = v.toLowerCase();
    return METHOD_NAMES.has(name) ? name : undefined;
  }
  if (typeof v === 'number' && Number.isInteger(v)) return METHOD_ENUM.get(v);
  throw new JsonStreamError('method must be a string or an integer');
}

/** Parses the body into commands; throws JsonStreamError when the stream or a command frame is malformed. */
export function parseLegacyCommands(text: string): LegacyCommand[] {
  return parseJsonStream(text).map((value) => {
    if (value === null) return { id: 0, method: 'publish', params: undefined };
    if (typeof value !== 'object' || Array.isArray(value)) throw new JsonStreamError('command must be an object');
    const o = value as Record<string, unknown>;
    const id = o['id'] ?? 0;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new JsonStreamError('id must be a uint32');
    }
    return { id, method: legacyMethod(o['method']), params: o['params'] };
  });
}

/** Runs commands in order. Absent params read as `{}`; the executor answers 107 for params of the wrong shape. */
export async function runLegacyCommands(exec: ApiExecutor, commands: readonly LegacyCommand[]): Promise<string> {
  const lines: string[] = [];
  for (const cmd of commands) {
    const reply: ApiReply =
      cmd.method === undefined || cmd.method === 'batch' || !exec.has(cmd.method)
        ? { error: ApiErrors.notFound.toBody() }
        : await exec.execute(cmd.method, cmd.params);
    lines.push(encodeLegacyReply(cmd.id, reply));
  }
  return lines.join('\n');
}

/** `{"id":n,"error":{...}}` or `{"id":n,"result":{...}}`, id omitted when 0. */
export function encodeLegacyReply(id: number, reply: ApiReply): string {
  return encodeJson(id ? { id, ...reply } : reply);
}
