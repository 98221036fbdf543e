/**
 * Conversions between broker values and the stream broker's SQL parameters and rows. In the JSONB
 * variant payloads (data, conn_info, chan_info) must be UTF-8 JSON: anything else is refused with
 * a BrokerError (`bad_data`) naming the field, before any SQL runs. JSONB does not keep the bytes
 * it was given: reads return PostgreSQL's normalised text (keys sorted, duplicates removed), which
 * is compacted here (no whitespace outside strings). The BYTEA variant keeps any bytes as they are.
 */
import type { BrokerPublication, StreamPosition } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';
import { BrokerError } from '../errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A payload as the SQL parameter of its variant: text for JSONB, a Buffer for BYTEA; null when absent. */
export function payloadParam(bytes: Uint8Array | undefined, binary: boolean, field: string): string | Buffer | null {
  if (bytes === undefined) return null;
  if (binary) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
    JSON.parse(text);
  } catch {
    throw new BrokerError('bad_data', `postgres broker: ${field} is not valid JSON; the JSONB tables take JSON only (set broker.postgres.binary_data for other payloads)`);
  }
  return text;
}

/**
 * Removes the whitespace PostgreSQL puts after `:` and `,` in jsonb output, leaving strings
 * untouched, so `{"a": 1}` reads back as `{"a":1}`.
 */
export function compactJson(text: string): string {
  if (!/\s/.test(text)) return text;
  let out = '';
  let inString = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      out += text.slice(start, i);
      start = i + 1;
    }
  }
  return out + text.slice(start);
}

/** A payload column as read (jsonb selected as ::text, bytea as Buffer) to bytes; undefined for NULL. */
export function payloadBytes(value: string | Buffer | null): Buffer | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return Buffer.from(compactJson(value), 'utf8');
  return value;
}

/** `<ms> milliseconds`, an interval literal for a duration in ms (null for none). */
export function intervalParam(ms: number | undefined): string | null {
  if (ms === undefined || !Number.isFinite(ms) || ms === 0) return null;
  return `${Math.round(ms)} milliseconds`;
}

/** The columns every read of the stream table selects, payloads cast for the variant. */
export function streamColumns(binary: boolean): string {
  const p = (col: string): string => (binary ? col : `${col}::text AS ${col}`);
  return `id::text AS id, channel, channel_offset::float8 AS channel_offset, epoch, kind, ${p('data')}, tags, client_id, user_id, ${p('conn_info')}, ${p('chan_info')}, ${p('prev_data')}, use_delta, floor(extract(epoch FROM created_at) * 1000)::float8 AS time_ms`;
}

/** One row of the stream table as selected by `streamColumns`. */
export interface StreamRow {
  id: string;
  channel: string;
  channel_offset: number;
  epoch: string;
  kind: number;
  data: string | Buffer | null;
  tags: Record<string, string> | null;
  client_id: string | null;
  user_id: string | null;
  conn_info: string | Buffer | null;
  chan_info: string | Buffer | null;
  prev_data: string | Buffer | null;
  use_delta: boolean;
  time_ms: number;
}

/** The client info of a row, when it names a client or a user. */
export function rowInfo(row: StreamRow): ClientInfo | undefined {
  if (row.client_id === null && row.user_id === null) return undefined;
  const info: ClientInfo = { user: row.user_id ?? '', client: row.client_id ?? '' };
  const conn = payloadBytes(row.conn_info);
  const chan = payloadBytes(row.chan_info);
  if (conn !== undefined) info.conn_info = conn;
  if (chan !== undefined) info.chan_info = chan;
  return info;
}

/** The publication stored in a row (no epoch: history never carries it). */
export function rowPublication(row: StreamRow): BrokerPublication {
  const pub: BrokerPublication = { data: payloadBytes(row.data) ?? Buffer.alloc(0), offset: row.channel_offset, time: row.time_ms };
  const info = rowInfo(row);
  if (info) pub.info = info;
  if (row.tags && Object.keys(row.tags).length > 0) pub.tags = row.tags;
  return pub;
}

/** A row decoded for delivery. */
export type StreamEvent =
  | { kind: 'pub'; channel: string; pub: BrokerPublication; position: StreamPosition; delta: boolean; prev?: BrokerPublication }
  | { kind: 'join' | 'leave'; channel: string; info: ClientInfo };

/** Decodes a row for live delivery: the first publication of a stream carries the epoch. */
export function rowEvent(row: StreamRow): StreamEvent {
  if (row.kind === 1 || row.kind === 2) return { kind: row.kind === 1 ? 'join' : 'leave', channel: row.channel, info: rowInfo(row) ?? { user: '', client: '' } };
  const pub = rowPublication(row);
  if (pub.offset === 1) pub.epoch = row.epoch;
  const event: StreamEvent = { kind: 'pub', channel: row.channel, pub, position: { offset: row.channel_offset, epoch: row.epoch }, delta: row.use_delta };
  const prev = payloadBytes(row.prev_data);
  if (prev !== undefined && row.use_delta) event.prev = { data: prev, offset: row.channel_offset - 1, time: row.time_ms };
  return event;
}
