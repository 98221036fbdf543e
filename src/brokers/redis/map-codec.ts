/**
 * Byte formats of the Redis map broker around the shared publication body of envelope.ts: the
 * tags block and removal body prefix the scripts assemble removals from, and decoders of state
 * values, stream entries and live frames (formats in map-scripts.ts).
 */
import type { MapPublication, StreamPosition } from '../../core/index.js';
import { EnvelopeError, decodeBody, encodeBody } from '../envelope.js';

const EMPTY = new Uint8Array(0);
const COLON = 0x3a;

/** The tags part of a body (count, then key/value strings); empty without tags. */
export function tagsBlock(tags: Record<string, string> | undefined): Buffer {
  if (!tags || Object.keys(tags).length === 0) return Buffer.alloc(0);
  // A body of empty data at time 0 is: version byte, time varint 0, flags byte, tags block.
  return encodeBody(EMPTY, 0, undefined, tags).subarray(3);
}

/** The version byte and time varint that start a body; a script appends the flags byte and tags. */
export function bodyPrefix(time: number): Buffer {
  const body = encodeBody(EMPTY, time);
  return body.subarray(0, body.length - 1);
}

/** Reads a decimal integer ending at the next colon; returns it and the position after the colon. */
function int(buf: Buffer, pos: number): [number, number] {
  const colon = buf.indexOf(COLON, pos);
  if (colon < 0) throw new EnvelopeError('map value: missing colon');
  const n = Number(buf.toString('latin1', pos, colon));
  if (!Number.isSafeInteger(n)) throw new EnvelopeError('map value: bad number');
  return [n, colon + 1];
}

function asMap(key: string, removed: boolean, buf: Buffer, offset: number, start: number, end = buf.length): MapPublication {
  const pub = decodeBody(buf, offset, start, end) as MapPublication;
  pub.key = key;
  if (removed) {
    pub.removed = true;
    pub.data = EMPTY;
  }
  return pub;
}

/** A state hash value `<offset>:<tagsLen>:<tags><body>` as the entry of `key`. */
export function decodeStateValue(key: string, value: Buffer, start = 0, end = value.length): MapPublication {
  const [offset, p1] = int(value, start);
  const [tagsLen, p2] = int(value, p1);
  return asMap(key, false, value, offset, p2 + tagsLen, end);
}

/** A stream entry `[id, [field, value, ...]]` (fields k, r, d). */
export function decodeStreamEntry(entry: [Buffer, Buffer[]]): MapPublication {
  const [id, fields] = entry;
  const values: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]!.toString()] = fields[i + 1]!;
  const offset = parseInt(id.toString('latin1'), 10);
  if (!values['k'] || !values['d']) throw new EnvelopeError('map stream entry: missing field');
  return asMap(values['k'].toString(), values['r']?.toString() === '1', values['d'], offset, 0);
}

/** A decoded live frame. */
export interface MapFrame {
  pub: MapPublication;
  position: StreamPosition;
  delta: boolean;
  prev?: MapPublication;
}

/** A live frame `<offset>:<epoch>:<delta>:<removed>:<keyLen>:<key><prevLen>:<prev state value><body>`. */
export function decodeMapFrame(buf: Buffer): MapFrame {
  const [offset, p1] = int(buf, 0);
  const epochEnd = buf.indexOf(COLON, p1);
  if (epochEnd < 0) throw new EnvelopeError('map frame: missing epoch');
  const epoch = buf.toString('latin1', p1, epochEnd);
  const [delta, p2] = int(buf, epochEnd + 1);
  const [removed, p3] = int(buf, p2);
  const [keyLen, p4] = int(buf, p3);
  const key = buf.toString('utf8', p4, p4 + keyLen);
  const [prevLen, p5] = int(buf, p4 + keyLen);
  const pub = asMap(key, removed === 1, buf, offset, p5 + prevLen);
  if (offset === 1) pub.epoch = epoch;
  const frame: MapFrame = { pub, position: { offset, epoch }, delta: delta === 1 };
  if (prevLen > 0) frame.prev = decodeStateValue(key, buf, p5, p5 + prevLen);
  return frame;
}
