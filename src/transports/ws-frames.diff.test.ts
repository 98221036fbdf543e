/**
 * Differential test of Gyre's frame reader (readFrames) against the `ws` package's Receiver,
 * the reader Gyre's compressed and uni_websocket connections use. Seeded random streams of
 * client frames (valid messages, fragmented ones with control frames between fragments,
 * pings, pongs, closes) are mutated (reserved bits, unmasked frames, bad opcodes, control
 * frames too long or fragmented, continuations without a message, invalid UTF-8, bad close
 * frames, oversized and over-fragmented messages, flipped bits, truncation), split at random
 * chunk boundaries and fed to both readers. Every message, ping, pong and close they report,
 * and the close code of a rejection, must be the same.
 *
 * Differences that are intended, and so not compared:
 * - the text of the reason (ws words its errors its own way); only the close code is compared;
 * - ws reports an empty close frame as code 1005, Gyre's reader as no code;
 * - when a stream ends inside a frame neither reader reports anything, so the partial frame
 *   is not compared (both wait for more).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as wsPackage from 'ws';
import { Rng } from '../protocol/fuzz.fixtures.js';
import { readFrames, type FrameReader, type Fragments, type PendingFrame } from './ws-frames.js';

/** What the test needs of ws's Receiver (a Writable; @types/ws does not declare it). */
interface WsReceiver {
  write(chunk: Buffer): boolean;
  on(event: string, listener: (...args: any[]) => void): unknown;
  readonly errored: Error | null;
}
type WsReceiverClass = new (opts: { isServer: boolean; maxPayload: number; maxFragments: number }) => WsReceiver;
const Receiver = (wsPackage as unknown as { Receiver: WsReceiverClass }).Receiver;

const LIMIT = 300;
const MAX_FRAMES = 8;
const CASES = 4000;
const SEED = 0x6779_7265;

interface FrameSpec {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** 0: the shortest length form; 126 or 127 force a longer one (not minimal, which both accept). */
  lengthForm: 0 | 126 | 127;
}

const spec = (opcode: number, payload: Buffer, fin = true): FrameSpec => ({ fin, rsv: 0, opcode, masked: true, payload, lengthForm: 0 });

function encode(f: FrameSpec, rng: Rng): Buffer {
  const len = f.payload.length;
  const form = f.lengthForm !== 0 ? f.lengthForm : len < 126 ? 0 : len < 65536 ? 126 : 127;
  const head: number[] = [(f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode];
  const maskBit = f.masked ? 0x80 : 0;
  if (form === 0) head.push(maskBit | len);
  else if (form === 126) head.push(maskBit | 126, len >> 8, len & 0xff);
  else head.push(maskBit | 127, 0, 0, 0, 0, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  if (!f.masked) return Buffer.concat([Buffer.from(head), f.payload]);
  const mask = rng.bytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = f.payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/** Code points by UTF-8 length: 1, 2, 3 and 4 bytes (no surrogates). */
const CODE_POINT_RANGES: [number, number][] = [
  [0x20, 0x7e],
  [0x80, 0x7ff],
  [0x800, 0xd7ff],
  [0xe000, 0xfffd],
  [0x10000, 0x10ffff],
];

/** Valid UTF-8 of about `bytes` bytes. */
function utf8Text(rng: Rng, bytes: number): Buffer {
  let s = '';
  while (Buffer.byteLength(s) < bytes) {
    const [lo, hi] = rng.chance(0.7) ? CODE_POINT_RANGES[0]! : rng.pick(CODE_POINT_RANGES);
    s += String.fromCodePoint(rng.range(lo, hi));
  }
  return Buffer.from(s);
}

/** Byte sequences that are not UTF-8: a stray continuation, 0xff, overlong, surrogate, past U+10FFFF, truncated. */
const BAD_UTF8 = [[0x80], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]].map((b) => Buffer.from(b));

function withBadUtf8(rng: Rng, text: Buffer): Buffer {
  const at = rng.int(text.length + 1);
  return Buffer.concat([text.subarray(0, at), rng.pick(BAD_UTF8), text.subarray(at)]);
}

function controlPayload(rng: Rng): Buffer {
  return rng.chance(0.3) ? Buffer.alloc(0) : rng.bytes(rng.range(1, 125));
}

/** A data message as one or more frames, with pings and pongs between its fragments now and then. */
function message(rng: Rng, kinds: Set<string>): FrameSpec[] {
  const binary = rng.chance(0.35);
  const roll = rng.next();
  const size = roll < 0.75 ? rng.range(0, 40) : roll < 0.95 ? rng.range(41, LIMIT) : rng.range(LIMIT + 1, LIMIT + 60);
  let payload = binary ? rng.bytes(size) : utf8Text(rng, size);
  if (!binary && rng.chance(0.08)) {
    payload = withBadUtf8(rng, payload);
    kinds.add('invalid UTF-8 text');
  }
  if (payload.length > LIMIT) kinds.add('oversize');
  const count = rng.chance(0.6) ? 1 : rng.chance(0.85) ? rng.range(2, 6) : rng.range(MAX_FRAMES - 1, MAX_FRAMES + 3);
  if (count > MAX_FRAMES) kinds.add('too many fragments');
  const cuts = Array.from({ length: count - 1 }, () => rng.int(payload.length + 1)).sort((a, b) => a - b);
  const frames: FrameSpec[] = [];
  let from = 0;
  for (let i = 0; i < count; i++) {
    const to = i < count - 1 ? cuts[i]! : payload.length;
    frames.push(spec(i === 0 ? (binary ? 0x2 : 0x1) : 0x0, payload.subarray(from, to), i === count - 1));
    from = to;
    if (i < count - 1 && rng.chance(0.2)) frames.push(spec(rng.pick([0x9, 0xa]), controlPayload(rng)));
  }
  if (count > 1) kinds.add('fragmented');
  return frames;
}

const GOOD_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3501, 4000, 4999];
const BAD_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535];

function closeSpec(rng: Rng, kinds: Set<string>): FrameSpec {
  const roll = rng.next();
  if (roll < 0.15) return spec(0x8, Buffer.alloc(0));
  if (roll < 0.25) {
    kinds.add('close payload of 1 byte');
    return spec(0x8, rng.bytes(1));
  }
  const bad = roll > 0.75;
  if (bad) kinds.add('bad close code');
  const code = rng.pick(bad ? BAD_CLOSE_CODES : GOOD_CLOSE_CODES);
  let reason = utf8Text(rng, rng.range(0, 40)).subarray(0, 123);
  if (rng.chance(0.1)) {
    reason = withBadUtf8(rng, reason.subarray(0, 100));
    kinds.add('invalid UTF-8 close reason');
  }
  return spec(0x8, Buffer.concat([Buffer.from([code >> 8, code & 0xff]), reason]));
}

/** Breaks one frame of the list (or adds a broken one); returns what it did. */
function mutateFrames(rng: Rng, frames: FrameSpec[]): string {
  const at = rng.int(frames.length);
  const f = frames[at]!;
  switch (rng.int(8)) {
    case 0:
      f.rsv = 1 << rng.int(3);
      return 'reserved bit';
    case 1:
      f.masked = false;
      return 'unmasked';
    case 2:
      f.opcode = rng.pick([0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]);
      return 'bad opcode';
    case 3:
      frames.splice(at, 0, spec(rng.pick([0x8, 0x9, 0xa]), rng.bytes(rng.range(126, 140))));
      return 'control frame too long';
    case 4:
      frames.splice(at, 0, spec(rng.pick([0x8, 0x9, 0xa]), controlPayload(rng), false));
      return 'fragmented control frame';
    case 5:
      frames.splice(rng.chance(0.5) ? 0 : at, 0, spec(0x0, rng.bytes(rng.range(0, 10)), rng.chance(0.5)));
      return 'continuation without a message';
    case 6:
      frames.splice(at, 0, spec(rng.pick([0x1, 0x2]), Buffer.from('x'), rng.chance(0.5)));
      return 'data frame inside a message';
    default:
      f.lengthForm = rng.pick([126, 127] as const);
      return 'longer length form';
  }
}

interface Case {
  stream: Buffer;
  chunks: Buffer[];
  kinds: Set<string>;
}

function makeCase(rng: Rng): Case {
  const kinds = new Set<string>();
  const frames: FrameSpec[] = [];
  const items = rng.range(1, 6);
  for (let i = 0; i < items; i++) {
    if (rng.chance(0.7)) frames.push(...message(rng, kinds));
    else frames.push(spec(rng.pick([0x9, 0xa]), controlPayload(rng)));
  }
  if (rng.chance(0.3)) frames.push(closeSpec(rng, kinds));
  if (rng.chance(0.1)) frames.push(spec(0x1, Buffer.from('after close')));
  if (rng.chance(0.45)) kinds.add(mutateFrames(rng, frames));
  let stream = Buffer.concat(frames.map((f) => encode(f, rng)));
  if (rng.chance(0.1)) {
    // Flipped bits anywhere: garbage lengths, opcodes, masks.
    stream = Buffer.from(stream);
    for (let n = rng.range(1, 3); n > 0; n--) {
      const i = rng.int(stream.length);
      stream[i] = stream[i]! ^ (1 << rng.int(8));
    }
    kinds.add('flipped bits');
  }
  if (rng.chance(0.08)) {
    stream = stream.subarray(0, rng.int(stream.length));
    kinds.add('truncated');
  }
  return { stream, chunks: split(rng, stream, kinds), kinds };
}

/** Chunk boundaries: none, a few at random, or every byte. */
function split(rng: Rng, stream: Buffer, kinds: Set<string>): Buffer[] {
  if (stream.length <= 200 && rng.chance(0.1)) {
    kinds.add('byte by byte');
    return Array.from(stream, (b) => Buffer.from([b]));
  }
  const cuts = Array.from({ length: rng.int(6) }, () => rng.int(stream.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...cuts, stream.length]) {
    chunks.push(stream.subarray(from, c));
    from = c;
  }
  if (cuts.length > 0) kinds.add('split');
  return chunks.filter((c) => c.length > 0);
}

/** What a reader reported, as comparable strings. */
type Events = string[];
const hex = (b: Buffer): string => b.toString('hex');

class GyreSide implements FrameReader {
  pending: PendingFrame | undefined = undefined;
  fragments: Fragments | undefined = undefined;
  readingStopped = false;
  readonly maxMessageBytes = LIMIT;
  readonly maxMessageFrames = MAX_FRAMES;
  readonly events: Events = [];
  onMessage(data: Buffer, binary: boolean): void {
    this.events.push(`message ${binary ? 'binary' : 'text'} ${hex(data)}`);
  }
  onPing(payload: Buffer): void {
    this.events.push(`ping ${hex(payload)}`);
  }
  onPong(payload: Buffer): void {
    this.events.push(`pong ${hex(payload)}`);
  }
  onClose(code: number | undefined, reason: string): void {
    this.readingStopped = true;
    // ws reports an empty close frame as 1005.
    this.events.push(`close ${code ?? 1005} ${hex(Buffer.from(reason))}`);
  }
  onFrameError(code: number): void {
    this.readingStopped = true;
    this.events.push(`reject ${code}`);
  }
}

function runGyre(chunks: Buffer[]): Events {
  const g = new GyreSide();
  // Copies: both readers unmask in place.
  for (const c of chunks) readFrames(g, Buffer.from(c));
  return g.events;
}

function statusCodeOf(err: Error): number | undefined {
  const key = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
  return key === undefined ? undefined : ((err as unknown as Record<symbol, number>)[key] ?? undefined);
}

function runWs(chunks: Buffer[]): Events {
  const events: Events = [];
  let done = false;
  const rx = new Receiver({ isServer: true, maxPayload: LIMIT, maxFragments: MAX_FRAMES });
  rx.on('message', (data: Buffer, isBinary: boolean) => events.push(`message ${isBinary ? 'binary' : 'text'} ${hex(data)}`));
  rx.on('ping', (data: Buffer) => events.push(`ping ${hex(data)}`));
  rx.on('pong', (data: Buffer) => events.push(`pong ${hex(data)}`));
  rx.on('conclude', (code: number, reason: Buffer) => {
    done = true;
    events.push(`close ${code} ${hex(reason)}`);
  });
  // The error is read synchronously from `errored` below; the event comes a tick later.
  rx.on('error', () => undefined);
  for (const c of chunks) {
    if (done) break;
    rx.write(Buffer.from(c));
    if (rx.errored) {
      events.push(`reject ${statusCodeOf(rx.errored)}`);
      done = true;
    }
  }
  return events;
}

describe('readFrames agrees with ws Receiver', () => {
  it(`on ${CASES} seeded random and mutated streams`, () => {
    const rng = new Rng(SEED);
    const kindsSeen = new Map<string, number>();
    const outcomes = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const c = makeCase(rng);
      const ours = runGyre(c.chunks);
      const theirs = runWs(c.chunks);
      assert.deepEqual(ours, theirs, `case ${i} (${[...c.kinds].join(', ')}): stream ${hex(c.stream).slice(0, 400)}`);
      for (const k of c.kinds) kindsSeen.set(k, (kindsSeen.get(k) ?? 0) + 1);
      const last = ours.at(-1) ?? '';
      const outcome = last.startsWith('reject') ? last : last.startsWith('close') ? 'close' : 'open';
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The generator really reached every kind of input, and both readers every verdict.
    for (const kind of [
      'fragmented',
      'split',
      'byte by byte',
      'reserved bit',
      'unmasked',
      'bad opcode',
      'control frame too long',
      'fragmented control frame',
      'continuation without a message',
      'data frame inside a message',
      'longer length form',
      'invalid UTF-8 text',
      'invalid UTF-8 close reason',
      'bad close code',
      'close payload of 1 byte',
      'oversize',
      'too many fragments',
      'flipped bits',
      'truncated',
    ]) {
      assert.ok((kindsSeen.get(kind) ?? 0) >= 10, `only ${kindsSeen.get(kind) ?? 0} cases of ${kind}`);
    }
    for (const outcome of ['open', 'close', 'reject 1002', 'reject 1007', 'reject 1008', 'reject 1009']) {
      assert.ok((outcomes.get(outcome) ?? 0) >= 20, `only ${outcomes.get(outcome) ?? 0} cases ended ${outcome}: ${JSON.stringify([...outcomes])}`);
    }
  });
});
