/**
 * The byte formats external brokers (Redis, NATS) share: a stored publication body, an encoded
 * ClientInfo, and the PUB/SUB frame that carries a publication, join or leave between nodes.
 *
 * Body: `0x01`, varint time (Unix ms), flags byte (1 = info, 2 = tags), [info], [varint n, n × (key,
 * value)], then the payload bytes up to the end. Strings are varint length + UTF-8; optional byte
 * fields are varint (length + 1) with 0 meaning absent.
 *
 * Frames: `p<offset>:<epoch>:<delta 0|1>:<prevLen>:<prev body><body>` for a publication (offset 0
 * and an empty epoch when no history was kept; prevLen 0 when there is no previous publication,
 * which is then offset − 1), `j<info>` for a join and `l<info>` for a leave. The publication header
 * is ASCII so Lua scripts can build it around bodies they never parse.
 */
import type { BrokerPublication, StreamPosition } from '../core/index.js';
import type { ClientInfo } from '../protocol/types.js';

const BODY_VERSION = 1;
const FLAG_INFO = 1;
const FLAG_TAGS = 2;
const COLON = 0x3a;
const encoder = new TextEncoder();

/** A decoded PUB/SUB frame. */
export type Frame =
  | { kind: 'pub'; pub: BrokerPublication; position: StreamPosition; delta: boolean; prev?: BrokerPublication }
  | { kind: 'join' | 'leave'; info: ClientInfo };

/** Raised for bytes that are not a frame or body of this format. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

class ByteWriter {
  private buf = Buffer.allocUnsafe(128);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  /** Unsigned varint for integers up to 2^53. */
  varint(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  str(s: string): void {
    const bytes = encoder.encode(s);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  optBytes(b: Uint8Array | undefined): void {
    if (b === undefined) return this.varint(0);
    this.varint(b.length + 1);
    this.raw(b);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

class ByteReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  u8(): number {
    if (this.pos >= this.end) throw new EnvelopeError('truncated envelope');
    return this.buf[this.pos++]!;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
      if (mul > 2 ** 56) throw new EnvelopeError('varint too long');
    }
  }

  take(n: number): Buffer {
    if (this.pos + n > this.end) throw new EnvelopeError('truncated envelope');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(): string {
    return this.take(this.varint()).toString('utf8');
  }

  optBytes(): Buffer | undefined {
    const n = this.varint();
    return n === 0 ? undefined : this.take(n - 1);
  }
}

function writeInfo(w: ByteWriter, info: ClientInfo): void {
  w.str(info.user);
  w.str(info.client);
  w.optBytes(info.conn_info);
  w.optBytes(info.chan_info);
}

function readInfo(r: ByteReader): ClientInfo {
  const info: ClientInfo = { user: r.str(), client: r.str() };
  const connInfo = r.optBytes();
  const chanInfo = r.optBytes();
  if (connInfo !== undefined) info.conn_info = connInfo;
  if (chanInfo !== undefined) info.chan_info = chanInfo;
  return info;
}

/** The stored form of a publication: everything but its offset (which the stream position gives). */
export function encodeBody(data: Uint8Array, time: number, info?: ClientInfo, tags?: Record<string, string>): Buffer {
  const w = new ByteWriter();
  w.u8(BODY_VERSION);
  w.varint(Math.max(0, Math.floor(time)));
  const tagKeys = tags ? Object.keys(tags) : [];
  w.u8((info ? FLAG_INFO : 0) | (tagKeys.length > 0 ? FLAG_TAGS : 0));
  if (info) writeInfo(w, info);
  if (tags && tagKeys.length > 0) {
    w.varint(tagKeys.length);
    for (const k of tagKeys) {
      w.str(k);
      w.str(tags[k]!);
    }
  }
  w.raw(data);
  return w.finish();
}

/** Decodes a body (bytes `start..end` of buf) into a publication with the given offset. Data is not copied. */
export function decodeBody(buf: Buffer, offset: number, start = 0, end = buf.length): BrokerPublication {
  const r = new ByteReader(buf, start, end);
  if (r.u8() !== BODY_VERSION) throw new EnvelopeError('unknown body version');
  const time = r.varint();
  const flags = r.u8();
  const pub: BrokerPublication = { data: Buffer.alloc(0), offset, time };
  if (flags & FLAG_INFO) pub.info = readInfo(r);
  if (flags & FLAG_TAGS) {
    const n = r.varint();
    const tags: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const k = r.str();
      tags[k] = r.str();
    }
    pub.tags = tags;
  }
  pub.data = buf.subarray(r.pos, end);
  return pub;
}

/** Encodes a ClientInfo alone (presence entries). */
export function encodeClientInfo(info: ClientInfo): Buffer {
  const w = new ByteWriter();
  writeInfo(w, info);
  return w.finish();
}

/** Decodes an encodeClientInfo result. */
export function decodeClientInfo(buf: Buffer): ClientInfo {
  return readInfo(new ByteReader(buf));
}

/** The frame of a publication that kept no history (offset 0, no epoch, no prev). */
export function liveFrame(body: Buffer, delta: boolean): Buffer {
  return Buffer.concat([Buffer.from(delta ? 'p0::1:0:' : 'p0::0:0:', 'latin1'), body]);
}

/** A join (`j`) or leave (`l`) frame. */
export function joinLeaveFrame(kind: 'join' | 'leave', info: ClientInfo): Buffer {
  const w = new ByteWriter();
  w.u8(kind === 'join' ? 0x6a : 0x6c);
  writeInfo(w, info);
  return w.finish();
}

/** Reads an ASCII field up to the next colon; returns it and the position after the colon. */
function field(buf: Buffer, pos: number): [string, number] {
  const colon = buf.indexOf(COLON, pos);
  if (colon < 0) throw new EnvelopeError('truncated frame header');
  return [buf.toString('latin1', pos, colon), colon + 1];
}

function int(s: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new EnvelopeError(`bad number in frame header: ${s}`);
  return n;
}

/**
 * Decodes a PUB/SUB frame. A publication with offset 1 gets `epoch` set (the first publication of a
 * stream tells live subscribers the epoch). Throws EnvelopeError on malformed input.
 */
export function decodeFrame(buf: Buffer): Frame {
  const kind = buf[0];
  if (kind === 0x6a || kind === 0x6c) return { kind: kind === 0x6a ? 'join' : 'leave', info: readInfo(new ByteReader(buf, 1)) };
  if (kind !== 0x70) throw new EnvelopeError('unknown frame kind');
  let pos = 1;
  let s: string;
  [s, pos] = field(buf, pos);
  const offset = int(s);
  let epoch: string;
  [epoch, pos] = field(buf, pos);
  [s, pos] = field(buf, pos);
  const delta = s === '1';
  [s, pos] = field(buf, pos);
  const prevLen = int(s);
  if (pos + prevLen > buf.length) throw new EnvelopeError('truncated prev');
  const pub = decodeBody(buf, offset, pos + prevLen);
  if (offset === 1) pub.epoch = epoch;
  const frame: Frame = { kind: 'pub', pub, position: { offset, epoch }, delta };
  if (prevLen > 0) frame.prev = decodeBody(buf, offset - 1, pos, pos + prevLen);
  return frame;
}
