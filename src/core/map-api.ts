/**
 * The server API's map methods (server.md §4.6: map_publish, map_remove, map_read_state,
 * map_read_stream, map_stats, map_clear) on the node's map broker. Each call checks that the
 * channel's namespace exists (102) and is a map namespace (`map`, `map_clients`, `map_users`;
 * anything else 107), derives the broker options from the namespace's `map` block and runs
 * the broker call; a position from another epoch answers 112.
 */
import { Errors } from '../protocol/codes.js';
import type { ChannelOptions } from './channel-options.js';
import type { ChannelResolver } from './channels.js';
import {
  type MapBroker,
  type MapChannelOptions,
  type MapKeyMode,
  type MapPublication,
  type MapSuppressReason,
  resolveMapChannelOptions,
} from './map-broker.js';
import type { StreamPosition } from './ports.js';

/** Subscription types whose channels hold maps. */
export const MAP_SUBSCRIPTION_TYPES: ReadonlySet<string> = new Set(['map', 'map_clients', 'map_users']);

/** Longest map key in bytes a client or the API may write (longer ones answer 107). */
export const MAX_MAP_KEY_BYTES = 1024;

/** Largest state page and stream read the API returns at once (upstream clamps the same way). */
const MAX_READ_LIMIT = 10_000;

export interface ApiMapPublishRequest {
  channel: string;
  key: string;
  data: Uint8Array;
  tags?: Record<string, string>;
  idempotencyKey?: string;
  delta?: boolean;
  version?: number;
  versionEpoch?: string;
  keyMode?: MapKeyMode;
}

export interface ApiMapRemoveRequest {
  channel: string;
  key: string;
  idempotencyKey?: string;
}

export interface ApiMapUpdateResult {
  offset: number;
  epoch: string;
  suppressed: boolean;
  suppressReason: MapSuppressReason;
}

export interface ApiMapReadStateRequest {
  channel: string;
  cursor?: string;
  /** 0 = the namespace's default page size. */
  limit: number;
  key?: string;
  revision?: StreamPosition;
}

export interface ApiMapReadStateResult {
  entries: MapPublication[];
  offset: number;
  epoch: string;
  cursor: string;
}

export interface ApiMapReadStreamRequest {
  channel: string;
  since?: StreamPosition;
  limit: number;
  reverse?: boolean;
}

export interface ApiMapReadStreamResult {
  entries: MapPublication[];
  offset: number;
  epoch: string;
}

/** What the server API may ask of a node's maps. */
export interface NodeMapApi {
  publish(req: ApiMapPublishRequest): Promise<ApiMapUpdateResult>;
  remove(req: ApiMapRemoveRequest): Promise<ApiMapUpdateResult>;
  readState(req: ApiMapReadStateRequest): Promise<ApiMapReadStateResult>;
  readStream(req: ApiMapReadStreamRequest): Promise<ApiMapReadStreamResult>;
  stats(channel: string): Promise<{ numKeys: number }>;
  clear(channel: string): Promise<void>;
}

/** The `map` block of a namespace's options, as channel options carry it (durations in ms). */
export interface ChannelMapOptions {
  mode?: string;
  key_ttl?: number;
  stream_size?: number;
  stream_ttl?: number;
  meta_ttl?: number;
  default_page_size?: number;
  min_page_size?: number;
  max_page_size?: number;
  live_transition_max_publication_limit?: number;
  subscribe_catch_up_timeout?: number;
  client_key?: string;
  remove_client_on_unsubscribe?: boolean;
  allow_publish_for_client?: boolean;
  allow_publish_for_subscriber?: boolean;
  allow_publish_for_anonymous?: boolean;
  allow_remove_for_client?: boolean;
  allow_remove_for_subscriber?: boolean;
  allow_remove_for_anonymous?: boolean;
}

/** A map namespace's options: the broker's and the page sizes. */
export interface MapNamespace {
  broker: MapChannelOptions;
  defaultPageSize: number;
  maxPageSize: number;
}

export class MapApi implements NodeMapApi {
  constructor(
    private readonly resolver: ChannelResolver,
    private readonly broker: MapBroker,
  ) {}

  async publish(req: ApiMapPublishRequest): Promise<ApiMapUpdateResult> {
    const ns = this.namespace(req.channel);
    checkKey(req.key);
    const r = await this.broker.publish(req.channel, req.key, {
      channel: ns.broker,
      data: req.data,
      ...(req.tags ? { tags: req.tags } : {}),
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
      ...(req.delta ? { delta: true } : {}),
      ...(req.version ? { version: req.version } : {}),
      ...(req.versionEpoch ? { versionEpoch: req.versionEpoch } : {}),
      ...(req.keyMode ? { keyMode: req.keyMode } : {}),
    });
    return { offset: r.position.offset, epoch: r.position.epoch, suppressed: r.suppressed, suppressReason: r.suppressReason };
  }

  async remove(req: ApiMapRemoveRequest): Promise<ApiMapUpdateResult> {
    const ns = this.namespace(req.channel);
    checkKey(req.key);
    const r = await this.broker.remove(req.channel, req.key, {
      channel: ns.broker,
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
    });
    return { offset: r.position.offset, epoch: r.position.epoch, suppressed: r.suppressed, suppressReason: r.suppressReason };
  }

  async readState(req: ApiMapReadStateRequest): Promise<ApiMapReadStateResult> {
    const ns = this.namespace(req.channel);
    const limit = req.limit > 0 ? Math.min(req.limit, ns.maxPageSize) : ns.defaultPageSize;
    const r = await this.broker.readState(req.channel, {
      channel: ns.broker,
      limit,
      ...(req.cursor ? { cursor: req.cursor } : {}),
      ...(req.key ? { key: req.key } : {}),
      ...(req.revision ? { revision: req.revision } : {}),
    });
    if (r.unrecoverable) throw Errors.unrecoverablePosition;
    return { entries: r.entries, offset: r.position.offset, epoch: r.position.epoch, cursor: r.cursor };
  }

  async readStream(req: ApiMapReadStreamRequest): Promise<ApiMapReadStreamResult> {
    const ns = this.namespace(req.channel);
    const limit = req.limit === 0 ? 0 : req.limit < 0 ? MAX_READ_LIMIT : Math.min(req.limit, MAX_READ_LIMIT);
    const r = await this.broker.readStream(req.channel, {
      channel: ns.broker,
      limit,
      ...(req.since ? { since: req.since } : {}),
      ...(req.reverse ? { reverse: true } : {}),
    });
    if (r.unrecoverable) throw Errors.unrecoverablePosition;
    return { entries: r.publications, offset: r.position.offset, epoch: r.position.epoch };
  }

  async stats(channel: string): Promise<{ numKeys: number }> {
    this.namespace(channel);
    return { numKeys: (await this.broker.stats(channel)).numKeys };
  }

  async clear(channel: string): Promise<void> {
    this.namespace(channel);
    await this.broker.clear(channel);
  }

  private namespace(channel: string): MapNamespace {
    const resolved = this.resolver.resolve(channel);
    if (!resolved) throw Errors.unknownChannel;
    return mapNamespaceOf(resolved.options);
  }
}

function checkKey(key: string): void {
  if (key === '' || Buffer.byteLength(key) > MAX_MAP_KEY_BYTES) throw Errors.badRequest;
}

/** The broker options and page sizes of a map namespace; 107 for any other namespace. */
export function mapNamespaceOf(opts: ChannelOptions): MapNamespace {
  if (!MAP_SUBSCRIPTION_TYPES.has(opts.subscription_type ?? '')) throw Errors.badRequest;
  const m = opts.map ?? {};
  const maxPageSize = m.max_page_size && m.max_page_size > 0 ? m.max_page_size : 1000;
  const defaultPageSize = Math.min(m.default_page_size && m.default_page_size > 0 ? m.default_page_size : 100, maxPageSize);
  return {
    broker: resolveMapChannelOptions({
      mode: m.mode ?? '',
      key_ttl: m.key_ttl ?? 0,
      stream_size: m.stream_size ?? 0,
      stream_ttl: m.stream_ttl ?? 0,
      meta_ttl: m.meta_ttl ?? 0,
    }),
    defaultPageSize,
    maxPageSize,
  };
}
