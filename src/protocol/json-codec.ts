/**
 * The JSON codec (protocol.md §2.1, §2.3): one JSON object per item, items joined with '\n'.
 * Also the JSON forms of the standalone bodies transports read: the bare ConnectRequest of
 * unidirectional connects and the `POST /emulation` body, whose `data` is a JSON string.
 */
import type { Command, ConnectRequest, EmulationRequest, Push, Reply } from './types.js';
import { badRequest, CodecError } from './codec-error.js';
import { asBuffer, asObject, asString, quote } from './json-values.js';
import { commandFromJson, connectRequestFromJson } from './json-decode-command.js';
import { pushFromJson, replyFromJson } from './json-decode-reply.js';
import { commandJson } from './json-encode-command.js';
import { pushJson, replyJson } from './json-encode-reply.js';

const NEWLINE = 0x0a;

/** Parses '\n'-separated items; `strict` rejects empty pieces (one trailing newline is always fine). */
function decodeLines<T>(frame: Uint8Array, toMessage: (v: unknown) => T, maxItemBytes: number, strict: boolean): T[] {
  const buf = asBuffer(frame);
  const out: T[] = [];
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(NEWLINE, start);
    if (end === -1) end = buf.length;
    const len = end - start;
    if (len === 0) {
      if (strict) throw new CodecError('bad_request', 'empty command in frame');
    } else {
      if (maxItemBytes > 0 && len > maxItemBytes) throw new CodecError('bad_request', `command of ${len} bytes exceeds the limit of ${maxItemBytes}`);
      let value: unknown;
      try {
        value = JSON.parse(buf.toString('utf8', start, end));
      } catch (err) {
        throw badRequest('malformed JSON', err);
      }
      try {
        out.push(toMessage(value));
      } catch (err) {
        throw badRequest('invalid message', err);
      }
    }
    start = end + 1;
  }
  return out;
}

function toBytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** JSON implementation of the Codec contract (see codec.ts); stateless, one shared instance. */
export class JsonCodec {
  readonly type = 'json' as const;

  decodeCommands(frame: Uint8Array, maxCommandBytes = 0): Command[] {
    const commands = decodeLines(frame, commandFromJson, maxCommandBytes, true);
    if (commands.length === 0) throw new CodecError('bad_request', 'empty frame');
    return commands;
  }

  encodeReply(reply: Reply): Uint8Array {
    return toBytes(replyJson(reply));
  }

  encodePush(push: Push): Uint8Array {
    return toBytes(pushJson(push));
  }

  encodeCommand(command: Command): Uint8Array {
    return toBytes(commandJson(command));
  }

  joinFrame(items: readonly Uint8Array[]): Uint8Array {
    if (items.length === 1) return items[0] as Uint8Array;
    let total = items.length === 0 ? 0 : items.length - 1;
    for (const item of items) total += item.length;
    const out = Buffer.allocUnsafe(total);
    let pos = 0;
    for (let i = 0; i < items.length; i++) {
      if (i > 0) out[pos++] = NEWLINE;
      const item = items[i] as Uint8Array;
      out.set(item, pos);
      pos += item.length;
    }
    return out;
  }

  decodeReplies(frame: Uint8Array): Reply[] {
    return decodeLines(frame, replyFromJson, 0, false);
  }

  decodePushes(frame: Uint8Array): Push[] {
    return decodeLines(frame, pushFromJson, 0, false);
  }
}

function parseBody(body: Uint8Array): unknown {
  try {
    return JSON.parse(asBuffer(body).toString('utf8'));
  } catch (err) {
    throw badRequest('malformed JSON', err);
  }
}

/**
 * Decodes the bare ConnectRequest JSON of unidirectional connects (`cf_connect` or the first
 * message). The literal `null` means `{}`. Throws CodecError('bad_request').
 */
export function decodeConnectRequestJson(body: Uint8Array): ConnectRequest {
  const value = parseBody(body);
  if (value === null) return {};
  try {
    return connectRequestFromJson(asObject(value, 'connect'));
  } catch (err) {
    throw badRequest('invalid connect request', err);
  }
}

/** Decodes a JSON `POST /emulation` body; its `data` string becomes UTF-8 command-frame bytes. Throws CodecError('bad_request'). */
export function decodeEmulationRequestJson(body: Uint8Array): EmulationRequest {
  const value = parseBody(body);
  try {
    const o = asObject(value, 'emulation request');
    const m: EmulationRequest = {};
    if (o['node'] !== null && o['node'] !== undefined) m.node = asString(o['node'], 'node');
    if (o['session'] !== null && o['session'] !== undefined) m.session = asString(o['session'], 'session');
    if (o['data'] !== null && o['data'] !== undefined) m.data = Buffer.from(asString(o['data'], 'data'), 'utf8');
    return m;
  } catch (err) {
    throw badRequest('invalid emulation request', err);
  }
}

/** Encodes a JSON `POST /emulation` body; `data` (a JSON command frame) is written as a JSON string. */
export function encodeEmulationRequestJson(req: EmulationRequest): Uint8Array {
  let s = '';
  if (req.session) s += ',"session":' + quote(req.session);
  if (req.node) s += ',"node":' + quote(req.node);
  if (req.data !== undefined && req.data.length > 0) s += ',"data":' + quote(asBuffer(req.data).toString('utf8'));
  return toBytes(s.length === 0 ? '{}' : '{' + s.substring(1) + '}');
}
