/**
 * The storage port of map subscriptions (subscriptions.md §5): per channel a state (key → latest
 * publication) and, in stream modes, a change stream with offsets and an epoch, plus live delivery
 * of every change. The subscription flow (STATE → STREAM → LIVE) and the server API map methods
 * are built on this port; implementations live in brokers/ (memory, Redis).
 */
import type { ClientInfo } from '../protocol/types.js';
import type { BrokerPublication, StreamPosition } from './ports.js';

/** `ephemeral`: no stream, keys expire. `recoverable`: stream, keys expire. `persistent`: stream, keys live until removed. */
export type MapMode = 'ephemeral' | 'recoverable' | 'persistent';

/**
 * Resolved storage options of one map channel, passed with every call (the broker keeps no
 * resolver). Zero means "off": keyTtlMs 0 = keys never expire, metaTtlMs 0 = the channel never
 * expires. streamSize and streamTtlMs are > 0 exactly in stream modes.
 */
export interface MapChannelOptions {
  mode: MapMode;
  keyTtlMs: number;
  streamSize: number;
  streamTtlMs: number;
  metaTtlMs: number;
}

/** The `map` block of channel options as config holds it (durations in ms). */
export interface MapChannelConfig {
  mode: string;
  key_ttl: number;
  stream_size: number;
  stream_ttl: number;
  meta_ttl: number;
}

/** Default change-stream length of stream modes. */
export const MAP_DEFAULT_STREAM_SIZE = 100;
/** Default change-stream retention of stream modes: 1 minute. */
export const MAP_DEFAULT_STREAM_TTL_MS = 60_000;
/**
 * How long an ephemeral channel (which has no meta_ttl) outlives its last read or write beyond
 * key_ttl: long enough that every key's expiry is seen and announced before the channel goes.
 */
export const MAP_EPHEMERAL_META_GRACE_MS = 60_000;

/**
 * Applies the defaults of server.md §1.6.8: stream modes get stream_size 100 and stream_ttl 1m when
 * 0; recoverable gets meta_ttl = max(10 × stream_ttl, key_ttl) when 0; persistent keeps 0 (never);
 * ephemeral has no stream and its meta lifetime is key_ttl plus a grace period. Validation (mode set,
 * key_ttl rules, meta_ttl ≥ stream_ttl) is the config's job; an unknown mode is treated as
 * ephemeral.
 */
export function resolveMapChannelOptions(cfg: MapChannelConfig): MapChannelOptions {
  const mode: MapMode = cfg.mode === 'recoverable' || cfg.mode === 'persistent' ? cfg.mode : 'ephemeral';
  const keyTtlMs = mode === 'persistent' ? 0 : Math.max(0, cfg.key_ttl);
  if (mode === 'ephemeral') return { mode, keyTtlMs, streamSize: 0, streamTtlMs: 0, metaTtlMs: keyTtlMs > 0 ? keyTtlMs + MAP_EPHEMERAL_META_GRACE_MS : 0 };
  const streamSize = cfg.stream_size > 0 ? cfg.stream_size : MAP_DEFAULT_STREAM_SIZE;
  const streamTtlMs = cfg.stream_ttl > 0 ? cfg.stream_ttl : MAP_DEFAULT_STREAM_TTL_MS;
  let metaTtlMs = Math.max(0, cfg.meta_ttl);
  if (metaTtlMs === 0 && mode === 'recoverable') metaTtlMs = Math.max(streamTtlMs * 10, keyTtlMs);
  return { mode, keyTtlMs, streamSize, streamTtlMs, metaTtlMs };
}

/** True for the modes that keep a change stream (recoverable, persistent). */
export function mapHasStream(opts: MapChannelOptions): boolean {
  return opts.mode !== 'ephemeral' && opts.streamSize > 0 && opts.streamTtlMs > 0;
}

/**
 * A map state entry or change. `offset` is the stream offset of the write that produced it (0 in
 * ephemeral mode). A removal has `removed: true`, empty data and the removed entry's tags.
 */
export interface MapPublication extends BrokerPublication {
  key: string;
  removed?: boolean;
}

/** Conditional write: `if_new` writes only an absent key, `if_exists` only a present one. */
export type MapKeyMode = '' | 'if_new' | 'if_exists';

/** Why a write changed nothing (the API's `suppress_reason`); '' when it was applied. */
export type MapSuppressReason = '' | 'idempotency' | 'version' | 'key_exists' | 'key_not_found';

/** Options of one map publish. */
export interface MapPublishOptions {
  channel: MapChannelOptions;
  data: Uint8Array;
  tags?: Record<string, string>;
  /** The writer (client publishes, map_clients presence); stored and delivered as `info`. */
  clientInfo?: ClientInfo;
  /** Ask for key-based delta: live delivery then carries the key's previous publication as `prev`. */
  delta?: boolean;
  /** A write with an idempotency key seen within idempotentResultTtlMs (default 5 min) returns the first result, suppressed. */
  idempotencyKey?: string;
  idempotentResultTtlMs?: number;
  /**
   * Per-key version (stream modes only, ignored in ephemeral): when > 0 the write is suppressed unless
   * greater than the key's last version, compared only when versionEpoch is empty or equal to the
   * stored one. A key forgets its version when removed.
   */
  version?: number;
  versionEpoch?: string;
  keyMode?: MapKeyMode;
  /** With keyMode `if_new` on a present key: push its expiry to now + keyTtl although the write is suppressed (presence refresh). */
  refreshTtlOnSuppress?: boolean;
}

/** Options of one map remove. */
export interface MapRemoveOptions {
  channel: MapChannelOptions;
  idempotencyKey?: string;
  idempotentResultTtlMs?: number;
  /** Tags of the removal publication; default: the removed entry's tags. */
  tags?: Record<string, string>;
}

/**
 * Outcome of a publish or remove. Applied: position is the write's (offset 0 in ephemeral mode).
 * Suppressed: nothing was stored, streamed or delivered, and position is the channel's current one
 * (for an idempotent repeat, the first write's position).
 */
export interface MapUpdateResult {
  position: StreamPosition;
  suppressed: boolean;
  suppressReason: MapSuppressReason;
}

/** A page of state. limit: -1 = all, 0 = position only, N > 0 = at most N entries. */
export interface MapReadStateOptions {
  channel: MapChannelOptions;
  limit: number;
  /** Return entries with keys strictly after this one ('' or absent = from the first key). */
  cursor?: string;
  /** Read this single key only (cursor and limit ignored). */
  key?: string;
  /** The position of an earlier page: when its epoch differs from the current one the result is `unrecoverable`. */
  revision?: StreamPosition;
}

/**
 * One atomic read: `entries` in ascending byte-wise key order (UTF-8, as Go compares strings), each
 * with the offset of its write; `position` is the stream top at the moment of the read, so every
 * entry has offset ≤ position.offset and every later change is in the stream after it. `cursor` is
 * the last returned key when more keys follow, else ''. `unrecoverable`: the revision's epoch is
 * not the channel's (entries empty).
 */
export interface MapStateResult {
  entries: MapPublication[];
  position: StreamPosition;
  cursor: string;
  unrecoverable: boolean;
}

/** A stream read, like history: limit -1 = all, 0 = position only, N > 0 = at most N. */
export interface MapReadStreamOptions {
  channel: MapChannelOptions;
  limit: number;
  /** Changes after this offset (reverse: before it). */
  since?: StreamPosition;
  /** Newest first. */
  reverse?: boolean;
}

/**
 * Stream publications in offset order (reverse: descending) and the current position.
 * `unrecoverable` (forward reads with `since` only): the epoch in since is non-empty and differs, or
 * the changes right after since.offset are gone (trimmed or expired while the top moved on), or
 * since.offset is beyond the top (the store lost writes). Publications are then empty.
 */
export interface MapStreamResult {
  publications: MapPublication[];
  position: StreamPosition;
  unrecoverable: boolean;
}

export interface MapStats {
  numKeys: number;
}

/**
 * Receives live map changes of the channels this node subscribed to. Per channel the calls come in
 * stream offset order, without gaps for a reliable broker; `position` equals the publication's
 * (offset, epoch) in stream modes, (0, epoch) in ephemeral mode. A publication with offset 1
 * carries `epoch`. `prev` is the key's previous publication when delta was asked and one existed.
 */
export interface MapBrokerEventHandler {
  handleMapPublication(channel: string, pub: MapPublication, position: StreamPosition, delta: boolean, prev?: MapPublication): void;
}

/**
 * Stores map channels and moves their changes between nodes. Every write is atomic per channel:
 * state change, stream append and live delivery happen as one step, so live order equals stream
 * order. A read of an unknown channel creates it empty with a new epoch, so epochs are stable from
 * the first read. Expired keys (key TTL) are removed by the broker within about a second, each
 * removal streamed (stream modes) and delivered like an explicit one. Suppressed writes store,
 * stream and deliver nothing. Failures reject with a broker error (code `backend_error`).
 */
export interface MapBroker {
  /** True when live delivery cannot lose changes (single process); false for PUB/SUB-based delivery. */
  readonly reliable: boolean;
  /** Starts delivering live changes to the handler and starts expiry work. Called once before anything else. */
  run(handler: MapBrokerEventHandler): Promise<void>;
  /** Starts live delivery of a channel to this node. Idempotent. */
  subscribe(channel: string): Promise<void>;
  /** Stops live delivery of a channel to this node. Idempotent. */
  unsubscribe(channel: string): Promise<void>;
  /** Writes key (non-empty) subject to idempotency, version and key mode, in that order. */
  publish(channel: string, key: string, opts: MapPublishOptions): Promise<MapUpdateResult>;
  /** Removes key; an absent key is suppressed with reason `key_not_found`. */
  remove(channel: string, key: string, opts: MapRemoveOptions): Promise<MapUpdateResult>;
  readState(channel: string, opts: MapReadStateOptions): Promise<MapStateResult>;
  readStream(channel: string, opts: MapReadStreamOptions): Promise<MapStreamResult>;
  /** Counts keys; never creates the channel. */
  stats(channel: string): Promise<MapStats>;
  /** Drops the channel (state, stream, epoch, idempotency results) without removal publications; the next access gets a new epoch. */
  clear(channel: string): Promise<void>;
  close(): Promise<void>;
}
