/**
 * State and stream reads of the PostgreSQL map broker. Each runs inside one transaction that
 * first locks the channel's meta row (creating the channel with a new epoch when absent, pushing
 * its meta TTL), so no write of the channel is in flight: the rows read next are exactly those
 * up to the returned position.
 */
import type pg from 'pg';
import type { MapPublication, MapReadStateOptions, MapReadStreamOptions, MapStateResult, MapStreamResult, StreamPosition } from '../../core/index.js';
import { msInterval, pubColumns, rowToPub, type PubRow } from './map-codec.js';
import type { MapNames } from './map-schema.js';

interface MetaRow {
  top: string;
  epoch: string;
  stream_size: number | null;
  stream_start: string;
  stream_expired: boolean;
}

async function lockMeta(c: pg.PoolClient, n: MapNames, channel: string, metaTtlMs: number | null): Promise<MetaRow> {
  const { rows } = await c.query<MetaRow>(
    `SELECT top_offset AS top, epoch, stream_size, stream_start, COALESCE(stream_expires_at <= NOW(), FALSE) AS stream_expired
     FROM ${n.lockMeta}($1, ${msInterval('$2')}, TRUE)`,
    [channel, metaTtlMs],
  );
  const row = rows[0];
  if (!row) throw new Error(`${n.lockMeta} returned no row`);
  return row;
}

/** One page of state (see MapBroker.readState) read under the channel's meta lock. */
export async function readMapState(c: pg.PoolClient, n: MapNames, channel: string, opts: MapReadStateOptions, metaTtlMs: number | null): Promise<MapStateResult> {
  const meta = await lockMeta(c, n, channel, metaTtlMs);
  const position: StreamPosition = { offset: Number(meta.top), epoch: meta.epoch };
  const result = (entries: MapPublication[], cursor = '', unrecoverable = false): MapStateResult => ({ entries, position, cursor, unrecoverable });
  if (opts.revision && opts.revision.epoch !== meta.epoch) return result([], '', true);
  const cols = `${pubColumns(n.binary)}, key_offset AS off, (extract(epoch FROM updated_at) * 1000)::float8 AS t`;
  if (opts.key !== undefined && opts.key !== '') {
    const { rows } = await c.query<PubRow>(`SELECT ${cols} FROM ${n.state} WHERE channel = $1 AND key = $2`, [channel, opts.key]);
    return result(rows.map(rowToPub));
  }
  if (opts.limit === 0) return result([]);
  const limit = opts.limit < 0 ? null : Math.floor(opts.limit);
  const { rows } = await c.query<PubRow>(`SELECT ${cols} FROM ${n.state} WHERE channel = $1 AND key > $2 ORDER BY key LIMIT $3`, [
    channel,
    opts.cursor ?? '',
    limit === null ? null : limit + 1,
  ]);
  const more = limit !== null && rows.length > limit;
  const entries = (more ? rows.slice(0, limit) : rows).map(rowToPub);
  return result(entries, more && entries.length > 0 ? entries[entries.length - 1]!.key : '');
}

/**
 * A stream read (see MapBroker.readStream): offsets from the first readable one, which is past
 * the trimmed part (`stream_size`) and past everything when the stream idled beyond `stream_ttl`.
 * A forward read from a position whose next change is not readable is unrecoverable.
 */
export async function readMapStream(c: pg.PoolClient, n: MapNames, channel: string, opts: MapReadStreamOptions, metaTtlMs: number | null): Promise<MapStreamResult> {
  const meta = await lockMeta(c, n, channel, metaTtlMs);
  const top = Number(meta.top);
  const position: StreamPosition = { offset: top, epoch: meta.epoch };
  const none = (unrecoverable: boolean): MapStreamResult => ({ publications: [], position, unrecoverable });
  const size = meta.stream_size;
  // First readable offset; top + 1 when nothing is.
  const oldest = size === 0 || meta.stream_expired ? top + 1 : Math.max(Number(meta.stream_start), size === null ? 1 : top - size + 1, 1);
  const { since, limit, reverse } = opts;
  if (since && since.epoch !== '' && since.epoch !== meta.epoch) return none(true);
  if (!reverse && since) {
    if (since.offset > top) return none(true);
    if (since.offset < top) {
      if (oldest > since.offset + 1) return none(true);
      const next = await c.query(`SELECT 1 FROM ${n.stream} WHERE channel = $1 AND epoch = $2 AND channel_offset = $3 LIMIT 1`, [channel, meta.epoch, since.offset + 1]);
      if (next.rowCount === 0) return none(true);
    }
  }
  if (limit === 0 || oldest > top) return none(false);
  const cols = `${pubColumns(n.binary)}, channel_offset AS off, removed, (extract(epoch FROM created_at) * 1000)::float8 AS t`;
  const max = limit < 0 ? null : Math.floor(limit);
  let rows: PubRow[];
  if (!reverse) {
    const from = Math.max(oldest, since ? since.offset + 1 : oldest);
    rows = (
      await c.query<PubRow>(
        `SELECT ${cols} FROM ${n.stream} WHERE channel = $1 AND epoch = $2 AND channel_offset BETWEEN $3 AND $4 ORDER BY channel_offset LIMIT $5`,
        [channel, meta.epoch, from, top, max],
      )
    ).rows;
  } else {
    const to = Math.min(top, since ? since.offset - 1 : top);
    rows = (
      await c.query<PubRow>(
        `SELECT ${cols} FROM ${n.stream} WHERE channel = $1 AND epoch = $2 AND channel_offset BETWEEN $3 AND $4 ORDER BY channel_offset DESC LIMIT $5`,
        [channel, meta.epoch, oldest, to, max],
      )
    ).rows;
  }
  return { publications: rows.map(rowToPub), position, unrecoverable: false };
}
