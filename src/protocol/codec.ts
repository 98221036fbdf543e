/**
 * The codec API: one Codec per wire encoding, chosen once per connection. Codecs are stateless
 * and shared; a publication is encoded once per codec and the same bytes go to every subscriber.
 */
import type { Command, ProtocolType, Push, Reply } from './types.js';
import { JsonCodec } from './json-codec.js';
import { ProtobufCodec } from './protobuf-codec.js';

/** Thrown by codecs; `code` tells callers which disconnect applies (3501 or 3506). */
export { CodecError } from './codec-error.js';

/** Turns transport frames into Commands and Replies/Pushes into frame items, for one encoding. */
export interface Codec {
  readonly type: ProtocolType;
  /**
   * Splits one transport frame into commands, in frame order. Throws CodecError('bad_request') on
   * malformed input, an empty frame, or a command larger than maxCommandBytes (when > 0).
   */
  decodeCommands(frame: Uint8Array, maxCommandBytes?: number): Command[];
  /**
   * Encodes one reply as a frame item. Protobuf items include their varint length prefix; JSON
   * items are the bare object, no newline. Throws CodecError('inappropriate_protocol') when a
   * bytes field cannot be embedded (non-JSON payload on a JSON connection).
   */
  encodeReply(reply: Reply): Uint8Array;
  /** Same as encodeReply for a bare Push (unidirectional transports); the empty Push is the uni ping. */
  encodePush(push: Push): Uint8Array;
  /** Encodes one command as a frame item (client side: tests, benchmarks, tools). */
  encodeCommand(command: Command): Uint8Array;
  /** Joins items into one WebSocket frame: JSON with '\n' between items (none trailing), Protobuf concatenated. */
  joinFrame(items: readonly Uint8Array[]): Uint8Array;
  /** Decodes a frame of reply items (client side). Empty pieces are skipped; malformed input throws CodecError('bad_request'). */
  decodeReplies(frame: Uint8Array): Reply[];
  /** Decodes a frame of bare Push items, as unidirectional transports send them (client side). */
  decodePushes(frame: Uint8Array): Push[];
}

/** The JSON codec: snake_case keys, zero values omitted, bytes embedded as raw JSON (protocol.md §2.1). */
export const jsonCodec: Codec = new JsonCodec();

/** The Protobuf codec: proto3 binary, `varint(len) ‖ message` items (protocol.md §2.2). */
export const protobufCodec: Codec = new ProtobufCodec();

/** The shared codec for a connection's protocol type. */
export function codecFor(type: ProtocolType): Codec {
  return type === 'protobuf' ? protobufCodec : jsonCodec;
}
