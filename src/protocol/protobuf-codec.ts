/**
 * The Protobuf codec (protocol.md §2.2, §2.3): every frame item is `varint(len) ‖ message`,
 * including a lone one; the empty Reply (ping) is the single byte 0x00. Also the standalone
 * message helpers that transports need: EmulationRequest bodies, bare uni_grpc Push/ConnectRequest.
 */
import type { Command, ConnectRequest, EmulationRequest, Push, Reply } from './types.js';
import { badRequest, CodecError } from './codec-error.js';
import { newReader, newWriter, readLength, type Reader, type Writer } from './proto-wire.js';
import { writeCommand, writeEmulationRequest } from './proto-encode-command.js';
import { writePush, writeReply } from './proto-encode-reply.js';
import { readCommand, readConnectRequest, readEmulationRequest } from './proto-decode-command.js';
import { readPush, readReply } from './proto-decode-reply.js';

function encodeDelimited<T>(v: T, write: (w: Writer, v: T) => void): Buffer {
  const w = newWriter().fork();
  write(w, v);
  return w.ldelim().finish() as Buffer;
}

function encodeBare<T>(v: T, write: (w: Writer, v: T) => void): Buffer {
  const w = newWriter();
  write(w, v);
  return w.finish() as Buffer;
}

/** Splits a frame of length-prefixed items; throws CodecError('bad_request') on any malformation. */
function decodeItems<T>(frame: Uint8Array, read: (r: Reader, end: number) => T, maxItemBytes: number): T[] {
  const out: T[] = [];
  try {
    const r = newReader(frame);
    while (r.pos < r.len) {
      const len = readLength(r);
      if (maxItemBytes > 0 && len > maxItemBytes) throw new CodecError('bad_request', `message of ${len} bytes exceeds the limit of ${maxItemBytes}`);
      const end = r.pos + len;
      if (end > r.len) throw new CodecError('bad_request', 'truncated frame');
      out.push(read(r, end));
      if (r.pos !== end) throw new CodecError('bad_request', 'field overruns its message');
    }
  } catch (err) {
    throw badRequest('malformed protobuf frame', err);
  }
  return out;
}

/** Decodes one whole, unprefixed message; throws CodecError('bad_request') if malformed. */
function decodeBare<T>(bytes: Uint8Array, read: (r: Reader, end: number) => T): T {
  try {
    const r = newReader(bytes);
    const m = read(r, r.len);
    if (r.pos !== r.len) throw new CodecError('bad_request', 'field overruns its message');
    return m;
  } catch (err) {
    throw badRequest('malformed protobuf message', err);
  }
}

/** Protobuf implementation of the Codec contract (see codec.ts); stateless, one shared instance. */
export class ProtobufCodec {
  readonly type = 'protobuf' as const;

  decodeCommands(frame: Uint8Array, maxCommandBytes = 0): Command[] {
    if (frame.length === 0) throw new CodecError('bad_request', 'empty frame');
    return decodeItems(frame, readCommand, maxCommandBytes);
  }

  encodeReply(reply: Reply): Uint8Array {
    return encodeDelimited(reply, writeReply);
  }

  encodePush(push: Push): Uint8Array {
    return encodeDelimited(push, writePush);
  }

  encodeCommand(command: Command): Uint8Array {
    return encodeDelimited(command, writeCommand);
  }

  joinFrame(items: readonly Uint8Array[]): Uint8Array {
    if (items.length === 1) return items[0] as Uint8Array;
    return Buffer.concat(items);
  }

  decodeReplies(frame: Uint8Array): Reply[] {
    return decodeItems(frame, readReply, 0);
  }

  decodePushes(frame: Uint8Array): Push[] {
    return decodeItems(frame, readPush, 0);
  }
}

/** Encodes an EmulationRequest as a bare message (the `POST /emulation` body, no length prefix). */
export function encodeEmulationRequest(req: EmulationRequest): Uint8Array {
  return encodeBare(req, writeEmulationRequest);
}

/** Decodes a `POST /emulation` Protobuf body; `data` holds varint-delimited Commands. Throws CodecError('bad_request'). */
export function decodeEmulationRequest(body: Uint8Array): EmulationRequest {
  return decodeBare(body, readEmulationRequest);
}

/** Encodes a Push as a bare message, without the length prefix (uni_grpc stream messages). */
export function encodePushMessage(push: Push): Uint8Array {
  return encodeBare(push, writePush);
}

/** Decodes a bare Protobuf ConnectRequest (uni_grpc connect). Throws CodecError('bad_request'). */
export function decodeConnectRequestMessage(bytes: Uint8Array): ConnectRequest {
  return decodeBare(bytes, readConnectRequest);
}
