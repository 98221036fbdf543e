/**
 * A deliberately tiny, independent Protobuf wire reader/writer for protocol-level tests.
 * It knows only varints and length-delimited fields, which is all client.proto needs for
 * the messages these tests build and inspect (field numbers from protocol.md §3–4).
 */

export function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Field with a varint value (wire type 0). */
export function fVarint(num: number, value: number): Buffer {
  return Buffer.from([...varint(num * 8), ...varint(value)]);
}

/** Field with bytes / string / sub-message (wire type 2). */
export function fBytes(num: number, value: Buffer | string): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([Buffer.from([...varint(num * 8 + 2), ...varint(b.length)]), b]);
}

export function msg(...fields: Buffer[]): Buffer {
  return Buffer.concat(fields);
}

/** Prefixes each message with its varint length and concatenates (one transport frame). */
export function frame(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages.map((m) => Buffer.concat([Buffer.from(varint(m.length)), m])));
}

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  let p = pos;
  for (;;) {
    if (p >= buf.length) throw new Error('truncated varint');
    const b = buf[p++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, p];
    mul *= 0x80;
  }
}

/** Splits a varint-delimited frame into its messages. */
export function splitFrame(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [len, p] = readVarint(buf, pos);
    out.push(buf.subarray(p, p + len));
    pos = p + len;
  }
  return out;
}

/** Decoded fields: field number → values in order (numbers for varints, Buffers for bytes). */
export type Fields = Map<number, (number | Buffer)[]>;

export function decode(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p] = readVarint(buf, pos);
    const num = Math.floor(key / 8);
    const wt = key % 8;
    let value: number | Buffer;
    if (wt === 0) {
      const [v, p2] = readVarint(buf, p);
      value = v;
      pos = p2;
    } else if (wt === 2) {
      const [len, p2] = readVarint(buf, p);
      value = buf.subarray(p2, p2 + len);
      pos = p2 + len;
    } else if (wt === 1) {
      value = buf.subarray(p, p + 8);
      pos = p + 8;
    } else if (wt === 5) {
      value = buf.subarray(p, p + 4);
      pos = p + 4;
    } else {
      throw new Error(`unsupported wire type ${wt}`);
    }
    const list = fields.get(num) ?? [];
    list.push(value);
    fields.set(num, list);
  }
  return fields;
}

export function num(f: Fields, n: number): number | undefined {
  const v = f.get(n)?.[0];
  return typeof v === 'number' ? v : undefined;
}

export function bytes(f: Fields, n: number): Buffer | undefined {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v : undefined;
}

export function str(f: Fields, n: number): string | undefined {
  return bytes(f, n)?.toString('utf8');
}

/** Command field numbers (protocol.md §3.1). */
export const Cmd = { id: 1, connect: 4, subscribe: 5, unsubscribe: 6, publish: 7, presence: 8, presenceStats: 9, history: 10, ping: 11, send: 12, rpc: 13, refresh: 14, subRefresh: 15 } as const;
/** Reply field numbers (protocol.md §3.2). */
export const Rep = { id: 1, error: 2, push: 4, connect: 5, subscribe: 6, unsubscribe: 7, publish: 8, presence: 9, presenceStats: 10, history: 11, rpc: 13, refresh: 14, subRefresh: 15 } as const;
