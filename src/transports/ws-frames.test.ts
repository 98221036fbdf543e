import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildFrame,
  closeFrame,
  pongFrame,
  readFrames,
  receivableCloseCode,
  sendableCloseCode,
  truncateReason,
  type FrameReader,
  type Fragments,
  type PendingFrame,
} from './ws-frames.js';

type Event =
  | { type: 'message'; data: string; binary: boolean }
  | { type: 'ping' | 'pong'; data: string }
  | { type: 'close'; code: number | undefined; reason: string }
  | { type: 'error'; code: number };

/** A connection stand-in that records what the reader reports. */
class Recorder implements FrameReader {
  pending: PendingFrame | undefined = undefined;
  fragments: Fragments | undefined = undefined;
  readingStopped = false;
  readonly events: Event[] = [];
  constructor(
    readonly maxMessageBytes = 65536,
    readonly maxMessageFrames = 16,
  ) {}
  onMessage(data: Buffer, binary: boolean): void {
    this.events.push({ type: 'message', data: data.toString(binary ? 'hex' : 'utf8'), binary });
  }
  onPing(payload: Buffer): void {
    this.events.push({ type: 'ping', data: payload.toString('utf8') });
  }
  onPong(payload: Buffer): void {
    this.events.push({ type: 'pong', data: payload.toString('utf8') });
  }
  onClose(code: number | undefined, reason: string): void {
    this.readingStopped = true;
    this.events.push({ type: 'close', code, reason });
  }
  onFrameError(code: number): void {
    this.readingStopped = true;
    this.events.push({ type: 'error', code });
  }
  feed(...chunks: Buffer[]): this {
    // Each chunk is a fresh copy: the reader unmasks in place.
    for (const c of chunks) readFrames(this, Buffer.from(c));
    return this;
  }
  feedBytes(data: Buffer): this {
    for (let i = 0; i < data.length; i++) readFrames(this, Buffer.from([data[i]!]));
    return this;
  }
  get idle(): boolean {
    return this.pending === undefined && this.fragments === undefined;
  }
}

interface FrameOpts {
  fin?: boolean;
  masked?: boolean;
  rsv?: number;
  /** Force the 16-bit (126) or 64-bit (127) length form. */
  lengthForm?: 126 | 127;
  /** A length to announce instead of the payload's. */
  announce?: number;
}

/** A client frame, masked with a fixed key unless told otherwise. */
function frame(opcode: number, payload: Buffer | string, o: FrameOpts = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = o.announce ?? data.length;
  const form = o.lengthForm ?? (len < 126 ? 0 : len < 65536 ? 126 : 127);
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode];
  const maskBit = (o.masked ?? true) ? 0x80 : 0;
  if (form === 0) head.push(maskBit | len);
  else if (form === 126) head.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    const hi = Math.floor(len / 0x100000000);
    const lo = len >>> 0;
    head.push(maskBit | 127, hi >>> 24, (hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff);
  }
  if (!(o.masked ?? true)) return Buffer.concat([Buffer.from(head), data]);
  const mask = [0x37, 0xfa, 0x21, 0x3d];
  const body = Buffer.from(data.map((b, i) => b ^ mask[i & 3]!));
  return Buffer.concat([Buffer.from(head), Buffer.from(mask), body]);
}

const text = (s: string, o?: FrameOpts): Buffer => frame(0x1, s, o);
const binary = (b: Buffer, o?: FrameOpts): Buffer => frame(0x2, b, o);
const cont = (s: string | Buffer, o?: FrameOpts): Buffer => frame(0x0, s, o);
const closePayload = (code: number, reason = ''): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

describe('readFrames', () => {
  it('reads text and binary frames with 7-, 16- and 64-bit lengths', () => {
    const big = 'y'.repeat(70000);
    const r = new Recorder(100000).feed(
      text(''),
      text('hello'),
      text('x'.repeat(125)),
      text('x'.repeat(126)),
      text('x'.repeat(65535)),
      text(big),
      text('short', { lengthForm: 127 }),
      binary(Buffer.from([0, 1, 0xff])),
    );
    assert.deepEqual(
      r.events.map((e) => (e.type === 'message' ? [e.binary, e.data.length] : e.type)),
      [[false, 0], [false, 5], [false, 125], [false, 126], [false, 65535], [false, 70000], [false, 5], [true, 6]],
    );
    assert.equal((r.events[1] as { data: string }).data, 'hello');
    assert.equal((r.events[7] as { data: string }).data, '0001ff');
    assert.ok(r.idle);
  });

  it('reads several frames from one chunk', () => {
    const r = new Recorder().feed(Buffer.concat([text('a'), frame(0x9, 'p'), text('b'), frame(0xa, 'q'), binary(Buffer.from([7]))]));
    assert.deepEqual(r.events, [
      { type: 'message', data: 'a', binary: false },
      { type: 'ping', data: 'p' },
      { type: 'message', data: 'b', binary: false },
      { type: 'pong', data: 'q' },
      { type: 'message', data: '07', binary: true },
    ]);
    assert.ok(r.idle);
  });

  it('reads frames fed byte by byte, and split at every position', () => {
    const stream = Buffer.concat([
      text('héllo'),
      text('x'.repeat(300)),
      frame(0x9, 'ping!'),
      text('frag', { fin: false }),
      frame(0xa, ''),
      cont('men', { fin: false }),
      cont('ted'),
      binary(Buffer.alloc(70000, 1), { lengthForm: 127 }),
      frame(0x8, closePayload(1000, 'bye')),
    ]);
    const expected = new Recorder(100000).feed(stream).events;
    assert.equal(expected.length, 7);
    assert.deepEqual(expected[4], { type: 'message', data: 'fragmented', binary: false });
    assert.deepEqual(expected[6], { type: 'close', code: 1000, reason: 'bye' });
    const bytewise = new Recorder(100000).feedBytes(stream);
    assert.deepEqual(bytewise.events, expected);
    const small = Buffer.concat([text('héllo'), frame(0x9, 'ping!'), text('a', { fin: false }), cont('b'), text('y'.repeat(200))]);
    const smallExpected = new Recorder().feed(small).events;
    for (let i = 1; i < small.length; i++) {
      for (const j of [i + 1, i + 7, small.length]) {
        if (j > small.length) continue;
        const r = new Recorder().feed(small.subarray(0, i), small.subarray(i, j), small.subarray(j));
        assert.deepEqual(r.events, smallExpected, `split at ${i}/${j}`);
        assert.ok(r.idle);
      }
    }
  });

  it('keeps no state between frames, and a partial frame in a buffer that grows with what arrives', () => {
    const r = new Recorder();
    const f = text('z'.repeat(1000));
    r.feed(f.subarray(0, 1));
    assert.equal(r.pending?.buf.length, 1, 'header bytes only');
    r.feed(f.subarray(1, 500));
    assert.equal(r.pending?.buf.length, f.length, 'a small frame gets its whole size once the header is known');
    assert.equal(r.pending?.filled, 500);
    r.feed(f.subarray(500));
    assert.ok(r.idle);
    assert.equal(r.events.length, 1);

    // A large announced frame costs what arrived (doubled), not what was announced.
    const big = binary(Buffer.alloc(60000, 7));
    const b = new Recorder();
    b.feed(big.subarray(0, 20));
    assert.equal(b.pending?.size, big.length);
    assert.ok(b.pending!.buf.length <= 4096, `buffer of ${b.pending!.buf.length} bytes for 20 received`);
    for (let at = 20; at < big.length; at += 997) {
      b.feed(big.subarray(at, Math.min(big.length, at + 997)));
      if (b.pending !== undefined) assert.ok(b.pending.buf.length <= Math.max(4096, 2 * b.pending.filled), `${b.pending.buf.length} for ${b.pending.filled}`);
    }
    assert.ok(b.idle);
    assert.deepEqual(b.events, [{ type: 'message', data: Buffer.alloc(60000, 7).toString('hex'), binary: true }]);
  });

  it('allows maxMessageFrames frames per message and closes with 1008 past them', () => {
    const parts = (n: number): Buffer[] => [text('a', { fin: false }), ...Array.from({ length: n - 2 }, () => cont('b', { fin: false })), cont('c')];
    const ok = new Recorder(100, 5).feed(...parts(5));
    assert.deepEqual(ok.events, [{ type: 'message', data: 'abbbc', binary: false }]);
    const over = new Recorder(100, 5).feed(...parts(6));
    assert.deepEqual(over.events, [{ type: 'error', code: 1008 }]);
    assert.ok(over.idle);
    // Control frames between fragments do not count.
    const pings = new Recorder(100, 3).feed(text('a', { fin: false }), frame(0x9, ''), frame(0x9, ''), cont('b', { fin: false }), frame(0xa, ''), cont('c'));
    assert.deepEqual(pings.events.at(-1), { type: 'message', data: 'abc', binary: false });
  });

  it('keeps nothing for empty continuation frames, and copies fragments out of the read chunks', () => {
    const r = new Recorder(100, 1_000_000);
    r.feed(text('x', { fin: false }));
    const kept = r.fragments!.buf;
    const empties = Buffer.concat(Array.from({ length: 5000 }, () => cont('', { fin: false })));
    r.feed(empties);
    assert.equal(r.fragments?.frames, 5001);
    assert.equal(r.fragments?.bytes, 1);
    assert.equal(r.fragments?.buf, kept, 'the buffer neither grew nor was replaced');
    const bytes = Buffer.concat([cont('yz', { fin: false }), frame(0x9, '')]);
    const own = new ArrayBuffer(bytes.length);
    const chunk = Buffer.from(own);
    bytes.copy(chunk);
    readFrames(r, chunk);
    assert.notEqual(r.fragments!.buf.buffer, own, 'no reference to the read chunk');
    r.feed(cont('!'));
    assert.deepEqual(r.events, [
      { type: 'ping', data: '' },
      { type: 'message', data: 'xyz!', binary: false },
    ]);
  });

  it('reassembles fragmented messages, with control frames between fragments', () => {
    const euro = Buffer.from('€'); // a multi-byte character split across fragments
    const r = new Recorder().feed(
      frame(0x1, euro.subarray(0, 1), { fin: false }),
      frame(0x9, 'mid'),
      frame(0x0, euro.subarray(1, 2), { fin: false }),
      frame(0x0, Buffer.concat([euro.subarray(2), Buffer.from('!')])),
      binary(Buffer.from([1]), { fin: false }),
      cont(Buffer.from([2])),
    );
    assert.deepEqual(r.events, [
      { type: 'ping', data: 'mid' },
      { type: 'message', data: '€!', binary: false },
      { type: 'message', data: '0102', binary: true },
    ]);
    assert.ok(r.idle);
  });

  const protocolErrors: [string, Buffer[], number][] = [
    ['an unmasked frame', [text('hi', { masked: false })], 1002],
    ['reserved bit 1', [text('hi', { rsv: 4 })], 1002],
    ['reserved bit 3', [text('hi', { rsv: 1 })], 1002],
    ['opcode 3', [frame(0x3, 'x')], 1002],
    ['opcode 0xB', [frame(0xb, 'x')], 1002],
    ['a control frame over 125 bytes', [frame(0x9, 'x'.repeat(126))], 1002],
    ['a fragmented ping', [frame(0x9, 'x', { fin: false })], 1002],
    ['a fragmented close', [frame(0x8, closePayload(1000), { fin: false })], 1002],
    ['a continuation without a message', [cont('x')], 1002],
    ['a new message inside a fragmented one', [text('a', { fin: false }), text('b')], 1002],
    ['a close frame with a 1-byte payload', [frame(0x8, Buffer.from([3]))], 1002],
    ['a message over the limit', [text('x'.repeat(101))], 1009],
    ['fragments over the limit together', [text('x'.repeat(60), { fin: false }), cont('x'.repeat(41))], 1009],
    ['a 64-bit length past 2^32', [text('', { lengthForm: 127, announce: 2 ** 40 })], 1009],
    ['invalid UTF-8 text', [frame(0x1, Buffer.from([0x68, 0xff, 0x69]))], 1007],
    ['a truncated UTF-8 sequence', [frame(0x1, Buffer.from([0xe2, 0x82]))], 1007],
    ['invalid UTF-8 in a fragmented text', [frame(0x1, Buffer.from([0xe2]), { fin: false }), frame(0x0, Buffer.from([0x28, 0xa1]))], 1007],
    ['invalid UTF-8 in a close reason', [frame(0x8, Buffer.from([0x03, 0xe8, 0xff]))], 1007],
  ];
  for (const [what, frames, code] of protocolErrors) {
    it(`${what} → ${code}`, () => {
      for (const feed of ['chunks', 'bytes'] as const) {
        const r = new Recorder(100);
        if (feed === 'chunks') r.feed(...frames, text('after'));
        else r.feedBytes(Buffer.concat([...frames, text('after')]));
        assert.deepEqual(r.events.at(-1), { type: 'error', code }, `${feed}: ${JSON.stringify(r.events)}`);
        assert.equal(r.events.filter((e) => e.type === 'error').length, 1);
        assert.ok(!r.events.some((e) => e.type === 'message' && e.data === 'after'), 'nothing is read after the error');
        assert.ok(r.idle);
      }
    });
  }

  it('rejects an oversized message from its header, before the payload arrives', () => {
    const r = new Recorder(1000).feed(text('x'.repeat(5000)).subarray(0, 8));
    assert.deepEqual(r.events, [{ type: 'error', code: 1009 }]);
    assert.equal(r.pending, undefined);
  });

  it('accepts a message of exactly the limit, fragmented or not', () => {
    const r = new Recorder(100).feed(text('x'.repeat(100)), text('x'.repeat(50), { fin: false }), cont('x'.repeat(50)));
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['message', 'message'],
    );
  });

  it('accepts invalid UTF-8 in binary messages', () => {
    const r = new Recorder().feed(binary(Buffer.from([0xff, 0xfe])));
    assert.deepEqual(r.events, [{ type: 'message', data: 'fffe', binary: true }]);
  });

  it('reads close frames: empty, code, code and reason; nothing after them', () => {
    assert.deepEqual(new Recorder().feed(frame(0x8, ''), text('after')).events, [{ type: 'close', code: undefined, reason: '' }]);
    assert.deepEqual(new Recorder().feed(Buffer.concat([frame(0x8, closePayload(1001)), text('after')])).events, [
      { type: 'close', code: 1001, reason: '' },
    ]);
    assert.deepEqual(new Recorder().feed(frame(0x8, closePayload(4321, 'gone ✓'))).events, [{ type: 'close', code: 4321, reason: 'gone ✓' }]);
  });

  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
    it(`a close frame with code ${code} → 1002`, () => {
      assert.deepEqual(new Recorder().feed(frame(0x8, closePayload(code))).events, [{ type: 'error', code: 1002 }]);
    });
  }

  it('accepts the close codes a peer may send', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3501, 4999]) {
      assert.ok(receivableCloseCode(code), String(code));
      assert.deepEqual(new Recorder().feed(frame(0x8, closePayload(code))).events, [{ type: 'close', code, reason: '' }]);
    }
  });
});

describe('server frames', () => {
  it('close frames carry code and reason, or nothing', () => {
    assert.deepEqual([...closeFrame(undefined)], [0x88, 0x00]);
    assert.deepEqual([...closeFrame(1000)], [0x88, 0x02, 0x03, 0xe8]);
    const f = closeFrame(3501, 'bad request');
    assert.equal(f[0], 0x88);
    assert.equal(f[1], 13);
    assert.equal(f.readUInt16BE(2), 3501);
    assert.equal(f.subarray(4).toString(), 'bad request');
    const long = closeFrame(4000, truncateReason('é'.repeat(100)));
    assert.ok(long[1]! <= 125);
  });

  it('pong frames echo the ping payload', () => {
    assert.deepEqual([...pongFrame(Buffer.from('ab'))], [0x8a, 0x02, 0x61, 0x62]);
    assert.deepEqual([...pongFrame(Buffer.alloc(0))], [0x8a, 0x00]);
  });

  it('sendable close codes exclude the reserved ones', () => {
    for (const code of [1000, 1001, 1011, 1016, 2000, 3000, 3501, 4999]) assert.ok(sendableCloseCode(code), String(code));
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 5000]) assert.ok(!sendableCloseCode(code), String(code));
  });

  it('data frames use the shortest length form', () => {
    assert.deepEqual([...buildFrame(Buffer.from('hi'), false)], [0x81, 0x02, 0x68, 0x69]);
    const mid = buildFrame(Buffer.alloc(300), true);
    assert.deepEqual([...mid.subarray(0, 4)], [0x82, 126, 0x01, 0x2c]);
    const big = buildFrame(Buffer.alloc(70000), true);
    assert.equal(big[1], 127);
    assert.equal(big.readUInt32BE(6), 70000);
  });

  it('truncateReason cuts on a character boundary at 123 bytes', () => {
    assert.equal(truncateReason('short'), 'short');
    const cut = truncateReason('€'.repeat(50));
    assert.equal(Buffer.byteLength(cut), 123);
    assert.equal(cut, '€'.repeat(41));
  });
});
