/**
 * Incremental reader of client→server WebSocket frames (RFC 6455 §5), and the server
 * frames written straight to TCP sockets (data frames shared across connections, control
 * frames). The reader keeps no state of its own:
 * it works on two fields of the object it is given (the connection), both undefined while
 * the connection is idle between frames.
 */
import { isUtf8 } from 'node:buffer';
import type { Codec } from '../protocol/codec.js';

/** Close codes for frames the reader rejects. */
export const CloseCodes = Object.freeze({
  protocolError: 1002,
  invalidPayload: 1007,
  /** A message of more frames than the reader allows (the code `ws` uses for the same bound). */
  policyViolation: 1008,
  tooBig: 1009,
});

/**
 * Most frames one message may take (its first frame and every continuation), the same
 * bound `ws` applies by default to Gyre's compressed and uni_websocket connections. Past
 * it the connection closes with 1008. Browsers and the Centrifugo SDKs send a message in
 * one frame or in a few large ones; only a peer that keeps a message unfinished on purpose
 * reaches it.
 */
export const MAX_MESSAGE_FRAMES = 16384;

/**
 * Most pongs that may wait behind a write backlog: answers to pings of a peer that does
 * not read what it is sent. Gyre's own connections close with 3008 (slow) past it
 * (websocket.ts); `ws` drops its connections past the same number.
 */
export const MAX_PENDING_PONGS = 60;

/**
 * The same bounds for the connections `ws` serves (compressed and uni_websocket), as
 * options of its WebSocketServer; they are also ws's defaults, pinned here so that they hold
 * whatever ws version is installed. ws closes an over-fragmented message with 1008 and
 * drops a connection with too many pending pongs without a close frame. Spread into the
 * options: ws's type definitions lack maxPendingAutoPongs.
 */
export const wsServerBounds = Object.freeze({ maxFragments: MAX_MESSAGE_FRAMES, maxPendingAutoPongs: MAX_PENDING_PONGS });

/**
 * The message bound of a permessage-deflate connection: `decompressed_message_size_limit`,
 * or 10 x the message size limit when it is 0. ws checks one bound against both the bytes on
 * the wire and the inflated message, so a compressed connection's messages may reach it on
 * either count; past it the connection closes with 1009 (message too big).
 */
export function inflatedMessageLimit(messageSizeLimit: number, decompressedLimit: number | undefined): number {
  return decompressedLimit && decompressedLimit > 0 ? decompressedLimit : 10 * messageSizeLimit;
}

/**
 * The bytes of a frame that did not arrive whole. Before its header is complete `size` is 0
 * and `buf` holds just the bytes so far (at most 13, `filled` === `buf.length`). Once the
 * header was read `size` is the frame's total length and `buf` grows with what arrives
 * (never past `size`): an announced length costs nothing until its bytes come.
 */
export interface PendingFrame {
  buf: Buffer;
  filled: number;
  size: number;
}

/**
 * A fragmented message being collected (RFC 6455 §5.4). Payloads are copied into one
 * growing buffer (the message is `buf[0, bytes)`), so an unfinished message costs its bytes
 * and nothing per frame, and holds no reference to the chunks it was read from.
 */
export interface Fragments {
  binary: boolean;
  buf: Buffer;
  bytes: number;
  /** Frames of the message so far, the first one included. */
  frames: number;
}

/**
 * What the reader needs from a connection: two fields of parser state and the callbacks.
 * Callbacks run synchronously while a chunk is read; after `onClose` or `onFrameError` the
 * connection must report `readingStopped`, and the rest of the chunk is ignored.
 */
export interface FrameReader {
  /** An incomplete frame; undefined between frames. */
  pending: PendingFrame | undefined;
  /** An incomplete fragmented message; undefined between messages. */
  fragments: Fragments | undefined;
  /** Largest message (the sum of its fragments) in bytes; larger ones fail with 1009. */
  readonly maxMessageBytes: number;
  /** Most frames per message (MAX_MESSAGE_FRAMES on connections); more fail with 1008. */
  readonly maxMessageFrames: number;
  /** True once no more frames are read (a close frame arrived, or a protocol error). */
  readonly readingStopped: boolean;
  /** A complete data message; text messages were checked to be valid UTF-8. */
  onMessage(data: Buffer, binary: boolean): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The peer's close frame: its code (undefined for an empty close frame) and reason. */
  onClose(code: number | undefined, reason: string): void;
  /** The peer broke the protocol or a bound: close with `code` (1002, 1007, 1008 or 1009). */
  onFrameError(code: number, reason: string): void;
}

/**
 * Reads one chunk of bytes from the peer: every complete frame in it is handled through
 * the reader's callbacks, a trailing incomplete frame is kept in `pending`. Payloads are
 * unmasked in place, so the chunk must not be used by anyone else afterwards.
 */
export function readFrames(r: FrameReader, chunk: Buffer): void {
  if (r.readingStopped) return;
  let off = 0;
  const p = r.pending;
  if (p !== undefined) {
    r.pending = undefined;
    if (p.size !== 0) {
      // The payload of a frame whose header was read: fill it up, growing the buffer by
      // doubling (at most to the frame's size) as bytes arrive.
      const n = Math.min(p.size - p.filled, chunk.length);
      if (p.filled + n > p.buf.length) {
        const grown = Buffer.allocUnsafe(Math.min(p.size, Math.max(p.buf.length * 2, p.filled + n)));
        p.buf.copy(grown, 0, 0, p.filled);
        p.buf = grown;
      }
      chunk.copy(p.buf, p.filled, 0, n);
      p.filled += n;
      if (p.filled < p.size) {
        r.pending = p;
        return;
      }
      // buf.length === size here: growth stops at size and reaches it with the last bytes.
      readBuffer(r, p.buf, 0);
      off = n;
    } else {
      // A header split across chunks: rare, and at most 13 bytes to prepend.
      chunk = Buffer.concat([p.buf, chunk]);
    }
  }
  if (off < chunk.length) readBuffer(r, chunk, off);
}

function fail(r: FrameReader, code: number, reason: string): void {
  r.pending = undefined;
  r.fragments = undefined;
  r.onFrameError(code, reason);
}

/** Handles the complete frames in buf from off on and keeps the incomplete rest. */
function readBuffer(r: FrameReader, buf: Buffer, off: number): void {
  const end = buf.length;
  while (off < end) {
    if (r.readingStopped) return;
    const avail = end - off;
    // The frame's total size once its header is known; 0 while the header is incomplete.
    let size = 0;
    if (avail >= 2) {
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if ((b0 & 0x70) !== 0) return fail(r, CloseCodes.protocolError, 'reserved bits set');
      if ((b1 & 0x80) === 0) return fail(r, CloseCodes.protocolError, 'unmasked frame');
      let len = b1 & 0x7f;
      let header = 6;
      if (opcode >= 0x8) {
        if (opcode > 0xa) return fail(r, CloseCodes.protocolError, 'unknown opcode');
        if (!fin) return fail(r, CloseCodes.protocolError, 'fragmented control frame');
        if (len > 125) return fail(r, CloseCodes.protocolError, 'control frame too long');
      } else if (opcode > 0x2) {
        return fail(r, CloseCodes.protocolError, 'unknown opcode');
      } else if (opcode === 0x0) {
        if (r.fragments === undefined) return fail(r, CloseCodes.protocolError, 'continuation without a message');
      } else if (r.fragments !== undefined) {
        return fail(r, CloseCodes.protocolError, 'new message inside a fragmented one');
      }
      if (len === 126) {
        if (avail >= 4) {
          len = buf.readUInt16BE(off + 2);
          header = 8;
        } else {
          header = 0;
        }
      } else if (len === 127) {
        if (avail >= 10) {
          // Anything past 32 bits is over every limit; 2^53 keeps the arithmetic exact.
          len = buf.readUInt32BE(off + 2) * 0x100000000 + buf.readUInt32BE(off + 6);
          header = 14;
        } else {
          header = 0;
        }
      }
      if (header !== 0) {
        if (opcode < 0x8 && len + (r.fragments?.bytes ?? 0) > r.maxMessageBytes) {
          return fail(r, CloseCodes.tooBig, 'message too big');
        }
        size = header + len;
        if (avail >= size) {
          const start = off + header;
          unmask(buf, start - 4, start, start + len);
          off = start + len;
          handleFrame(r, opcode, fin, buf.subarray(start, off));
          continue;
        }
      }
    }
    keepPending(r, buf, off, size);
    return;
  }
}

/** The first buffer for a frame that did not arrive whole, when its size is known and the bytes so far are fewer. */
const PENDING_START_BYTES = 4096;

/**
 * Keeps the incomplete frame at buf[off..]: its bytes so far in a buffer with room to grow
 * (twice what arrived, at most the frame's size) once the size is known.
 */
function keepPending(r: FrameReader, buf: Buffer, off: number, size: number): void {
  const avail = buf.length - off;
  if (size === 0) {
    r.pending = { buf: Buffer.from(buf.subarray(off)), filled: avail, size: 0 };
    return;
  }
  const start = Buffer.allocUnsafe(Math.min(size, Math.max(avail * 2, PENDING_START_BYTES)));
  buf.copy(start, 0, off);
  r.pending = { buf: start, filled: avail, size };
}

function unmask(buf: Buffer, maskAt: number, start: number, end: number): void {
  const m0 = buf[maskAt]!;
  const m1 = buf[maskAt + 1]!;
  const m2 = buf[maskAt + 2]!;
  const m3 = buf[maskAt + 3]!;
  let i = start;
  for (; i + 3 < end; i += 4) {
    buf[i] = buf[i]! ^ m0;
    buf[i + 1] = buf[i + 1]! ^ m1;
    buf[i + 2] = buf[i + 2]! ^ m2;
    buf[i + 3] = buf[i + 3]! ^ m3;
  }
  const rest = end - i;
  if (rest > 0) buf[i] = buf[i]! ^ m0;
  if (rest > 1) buf[i + 1] = buf[i + 1]! ^ m1;
  if (rest > 2) buf[i + 2] = buf[i + 2]! ^ m2;
}

function handleFrame(r: FrameReader, opcode: number, fin: boolean, payload: Buffer): void {
  switch (opcode) {
    case 0x1:
    case 0x2:
      if (fin) deliver(r, payload, opcode === 0x2);
      else startFragments(r, payload, opcode === 0x2);
      return;
    case 0x0: {
      const f = r.fragments!;
      if (++f.frames > r.maxMessageFrames) return fail(r, CloseCodes.policyViolation, 'too many message fragments');
      // Empty continuations are only counted: they add nothing to keep.
      if (payload.length > 0) appendFragment(r, f, payload);
      if (fin) {
        r.fragments = undefined;
        deliver(r, f.buf.subarray(0, f.bytes), f.binary);
      }
      return;
    }
    case 0x8:
      return handleClose(r, payload);
    case 0x9:
      return r.onPing(payload);
    default:
      return r.onPong(payload);
  }
}

/** The first buffer of a fragmented message, unless its first frame is larger. */
const FRAGMENTS_START_BYTES = 1024;

function startFragments(r: FrameReader, payload: Buffer, binary: boolean): void {
  // The size was checked against maxMessageBytes, so the buffer never outgrows the limit.
  const buf = Buffer.allocUnsafe(Math.min(r.maxMessageBytes, Math.max(payload.length * 2, FRAGMENTS_START_BYTES)));
  payload.copy(buf, 0);
  r.fragments = { binary, buf, bytes: payload.length, frames: 1 };
}

function appendFragment(r: FrameReader, f: Fragments, payload: Buffer): void {
  const need = f.bytes + payload.length;
  if (need > f.buf.length) {
    const grown = Buffer.allocUnsafe(Math.min(r.maxMessageBytes, Math.max(f.buf.length * 2, need)));
    f.buf.copy(grown, 0, 0, f.bytes);
    f.buf = grown;
  }
  payload.copy(f.buf, f.bytes);
  f.bytes = need;
}

function deliver(r: FrameReader, data: Buffer, binary: boolean): void {
  if (!binary && !isUtf8(data)) return fail(r, CloseCodes.invalidPayload, 'invalid UTF-8');
  r.onMessage(data, binary);
}

function handleClose(r: FrameReader, payload: Buffer): void {
  if (payload.length === 0) return r.onClose(undefined, '');
  if (payload.length === 1) return fail(r, CloseCodes.protocolError, 'invalid close frame');
  const code = payload.readUInt16BE(0);
  if (!receivableCloseCode(code)) return fail(r, CloseCodes.protocolError, 'invalid close code');
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) return fail(r, CloseCodes.invalidPayload, 'invalid UTF-8');
  r.onClose(code, reason.toString('utf8'));
}

/** Codes a peer may put in a close frame: the registered 1000-1014 ones that travel on the wire, and 3000-4999. */
export function receivableCloseCode(code: number): boolean {
  if (code >= 3000) return code <= 4999;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** Codes the server writes in a close frame; others (1004-1006, 1015, out of range) drop the connection instead. */
export function sendableCloseCode(code: number): boolean {
  return code >= 1000 && code <= 4999 && code !== 1004 && code !== 1005 && code !== 1006 && code !== 1015;
}

/**
 * A server close frame: code and reason (the reason must already fit, at most 123 bytes),
 * or an empty payload when code is undefined.
 */
export function closeFrame(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.from([0x88, 0x00]);
  const rlen = Buffer.byteLength(reason);
  const frame = Buffer.allocUnsafe(4 + rlen);
  frame[0] = 0x88;
  frame[1] = 2 + rlen;
  frame.writeUInt16BE(code, 2);
  if (rlen > 0) frame.write(reason, 4, 'utf8');
  return frame;
}

/** A server pong frame carrying the ping's payload (at most 125 bytes). */
export function pongFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(2 + payload.length);
  frame[0] = 0x8a;
  frame[1] = payload.length;
  frame.set(payload, 2);
  return frame;
}

/** The server ping frame with no payload; shared, never modified. */
export const pingFrame: Buffer = Buffer.from([0x89, 0x00]);

/**
 * The last WebSocket frame built for each opcode (text, binary) and the items it carries.
 * A publication fanned out in one event-loop turn leaves every subscriber's writer with
 * the same items, so their frame is built once and the same bytes go to every socket.
 * Items are compared by identity: encoded items are never modified once queued.
 */
interface FrameCache {
  items: readonly Uint8Array[] | undefined;
  frame: Buffer;
  /** The last frame of one tiny item (a ping, mostly), reused when the next has the same bytes. */
  tinyPayload: Uint8Array;
  tinyFrame: Buffer;
}

const emptyCache = (): FrameCache => ({ items: undefined, frame: Buffer.alloc(0), tinyPayload: new Uint8Array(0), tinyFrame: Buffer.alloc(0) });
const frameCaches: [text: FrameCache, binary: FrameCache] = [emptyCache(), emptyCache()];

/** Items up to this size are matched by content (pings are encoded afresh per connection). */
const TINY_ITEM = 16;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One unmasked, unfragmented server frame: FIN + opcode, payload length, payload. */
export function buildFrame(payload: Uint8Array, binary: boolean): Buffer {
  const len = payload.length;
  const header = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + len);
  frame[0] = binary ? 0x82 : 0x81;
  if (len < 126) {
    frame[1] = len;
  } else if (len < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  frame.set(payload, header);
  return frame;
}

/**
 * The frame carrying `items` (joined as one message), reused when the previous call had the
 * same items.
 */
export function framedItems(items: readonly Uint8Array[], binary: boolean, codec: Codec): Buffer {
  const cache = frameCaches[binary ? 1 : 0];
  const prev = cache.items;
  // The same array: a run of publications shared by every live subscriber of a channel.
  if (prev === items) return cache.frame;
  if (prev !== undefined && prev.length === items.length) {
    let same = true;
    for (let i = 0; i < items.length; i++) {
      if (prev[i] !== items[i]) {
        same = false;
        break;
      }
    }
    if (same) return cache.frame;
  }
  let frame: Buffer;
  const single = items.length === 1 ? items[0]! : undefined;
  if (single !== undefined && single.length <= TINY_ITEM) {
    if (!sameBytes(single, cache.tinyPayload)) {
      cache.tinyPayload = Uint8Array.from(single);
      cache.tinyFrame = buildFrame(single, binary);
    }
    frame = cache.tinyFrame;
  } else {
    frame = buildFrame(single ?? codec.joinFrame(items), binary);
  }
  cache.items = items;
  cache.frame = frame;
  return frame;
}

/** Close reasons must fit a close frame: at most 123 bytes of UTF-8, cut on a character boundary. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > 123) break;
    out += ch;
  }
  return out;
}
