/**
 * Row and parameter conversions of the PostgreSQL map broker. JSONB data travels as text (read
 * with `::text`, so the bytes are PostgreSQL's canonical JSON text), BYTEA data as Buffers;
 * empty data is NULL in both variants, so entries without data (presence) fit a JSONB column.
 */
import type { MapPublication } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/types.js';

const EMPTY = new Uint8Array(0);

/** Columns a state or stream row is read with (data columns as text for JSONB). */
export function pubColumns(binary: boolean, alias = ''): string {
  const a = alias ? `${alias}.` : '';
  const d = (c: string) => (binary ? `${a}${c}` : `${a}${c}::text AS ${c}`);
  return `${a}key, ${d('data')}, ${a}tags, ${a}client_id, ${a}user_id, ${d('conn_info')}, ${d('chan_info')}`;
}

/** A row read with pubColumns, plus its offset and time columns. */
export interface PubRow {
  key: string;
  data: string | Buffer | null;
  tags: Record<string, string> | null;
  client_id: string | null;
  user_id: string | null;
  conn_info: string | Buffer | null;
  chan_info: string | Buffer | null;
  /** channel_offset or key_offset (bigint as text). */
  off: string;
  /** Unix ms. */
  t: number;
  removed?: boolean | null;
}

/** A data parameter for the variant: NULL when empty, text for JSONB, a Buffer for BYTEA. */
export function dataParam(data: Uint8Array | undefined, binary: boolean): string | Buffer | null {
  if (!data || data.byteLength === 0) return null;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return binary ? buf : buf.toString('utf8');
}

/** A tags parameter: JSON text, NULL when absent or empty. */
export function tagsParam(tags: Record<string, string> | undefined): string | null {
  if (!tags) return null;
  for (const _ in tags) return JSON.stringify(tags);
  return null;
}

/** Bytes of a data column value (NULL = empty). */
export function dataBytes(v: string | Buffer | null): Uint8Array {
  if (v === null) return EMPTY;
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

function optBytes(v: string | Buffer | null): Uint8Array | undefined {
  return v === null ? undefined : dataBytes(v);
}

/** The publication a state or stream row holds; info is present when the write carried a client. */
export function rowToPub(row: PubRow): MapPublication {
  const pub: MapPublication = { key: row.key, data: dataBytes(row.data), offset: Number(row.off), time: Math.floor(Number(row.t)) };
  if (row.removed) pub.removed = true;
  if (row.tags && Object.keys(row.tags).length > 0) pub.tags = row.tags;
  if (row.client_id !== null) {
    const info: ClientInfo = { user: row.user_id ?? '', client: row.client_id };
    const conn = optBytes(row.conn_info);
    const chan = optBytes(row.chan_info);
    if (conn) info.conn_info = conn;
    if (chan) info.chan_info = chan;
    pub.info = info;
  }
  return pub;
}

/** SQL for an interval parameter given in ms (NULL stays NULL). */
export function msInterval(param: string): string {
  return `(${param}::float8 * interval '1 millisecond')`;
}
