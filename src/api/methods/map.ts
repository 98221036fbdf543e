/**
 * The map methods (server.md §4.6): map_publish, map_remove, map_read_state, map_read_stream,
 * map_stats and map_clear. Only map namespaces (`map`, `map_clients`, `map_users`) take them
 * (107 otherwise, 102 for an unknown namespace); `channel` and `key` are required (107).
 */
import type { MapKeyMode, MapPublication, NodeApi, NodeMapApi } from '../../core/index.js';
import type { ApiMethod } from '../method.js';
import { ApiErrors } from '../errors.js';
import { bool, INT32, int, raw, requestObject, str, strMap, UINT64 } from '../decode.js';
import { channelOptions, publicationJson, requireChannel, optionalPayload } from './common.js';

const KEY_MODES: ReadonlySet<string> = new Set(['', 'if_new', 'if_exists']);

function mapsOf(node: NodeApi): NodeMapApi {
  if (!node.maps) throw ApiErrors.notAvailable;
  return node.maps;
}

function requireKey(key: string): void {
  if (key === '') throw ApiErrors.badRequest;
}

/** A map entry as the API returns it: the publication's JSON plus key, removal flag and time. */
function entryJson(p: MapPublication): Record<string, unknown> {
  const { offset, ...rest } = publicationJson(p);
  const out: Record<string, unknown> = { key: p.key, ...rest, offset };
  delete out.info;
  if (p.removed) out.removed = true;
  if (p.time > 0) out.time = p.time;
  return out;
}

function updateJson(r: { offset: number; epoch: string; suppressed: boolean; suppressReason: string }): Record<string, unknown> {
  const out: Record<string, unknown> = { offset: r.offset, epoch: r.epoch };
  if (r.suppressed) {
    out.suppressed = true;
    out.suppress_reason = r.suppressReason;
  }
  return out;
}

interface MapPublishRequest {
  channel: string;
  key: string;
  data: Uint8Array | undefined;
  b64data: string;
  tags: Record<string, string> | undefined;
  idempotencyKey: string;
  delta: boolean;
  version: number;
  versionEpoch: string;
  keyMode: string;
}

export const mapPublish: ApiMethod<MapPublishRequest> = {
  name: 'map_publish',
  decode(params) {
    const o = requestObject(params);
    return {
      channel: str(o, 'channel'),
      key: str(o, 'key'),
      data: raw(o, 'data'),
      b64data: str(o, 'b64data'),
      tags: strMap(o, 'tags'),
      idempotencyKey: str(o, 'idempotency_key'),
      delta: bool(o, 'delta'),
      version: int(o, 'version', UINT64),
      versionEpoch: str(o, 'version_epoch'),
      keyMode: str(o, 'key_mode'),
    };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    requireKey(req.key);
    if (!KEY_MODES.has(req.keyMode)) throw ApiErrors.badRequest;
    const maps = mapsOf(ctx.node);
    const deltaPublish = channelOptions(ctx.node, req.channel).delta_publish;
    const r = await maps.publish({
      channel: req.channel,
      key: req.key,
      data: optionalPayload(req.data, req.b64data) ?? new Uint8Array(0),
      ...(req.tags ? { tags: req.tags } : {}),
      ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
      ...(req.delta || deltaPublish ? { delta: true } : {}),
      ...(req.version > 0 ? { version: req.version } : {}),
      ...(req.versionEpoch ? { versionEpoch: req.versionEpoch } : {}),
      ...(req.keyMode ? { keyMode: req.keyMode as MapKeyMode } : {}),
    });
    return updateJson(r);
  },
};

interface MapRemoveRequest {
  channel: string;
  key: string;
  idempotencyKey: string;
}

export const mapRemove: ApiMethod<MapRemoveRequest> = {
  name: 'map_remove',
  decode(params) {
    const o = requestObject(params);
    return { channel: str(o, 'channel'), key: str(o, 'key'), idempotencyKey: str(o, 'idempotency_key') };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    requireKey(req.key);
    const r = await mapsOf(ctx.node).remove({ channel: req.channel, key: req.key, ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}) });
    return updateJson(r);
  },
};

interface MapReadStateRequest {
  channel: string;
  cursor: string;
  limit: number;
  key: string;
  revisionOffset: number;
  revisionEpoch: string;
}

export const mapReadState: ApiMethod<MapReadStateRequest> = {
  name: 'map_read_state',
  decode(params) {
    const o = requestObject(params);
    return {
      channel: str(o, 'channel'),
      cursor: str(o, 'cursor'),
      limit: int(o, 'limit', INT32),
      key: str(o, 'key'),
      revisionOffset: int(o, 'revision_offset', UINT64),
      revisionEpoch: str(o, 'revision_epoch'),
    };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    const r = await mapsOf(ctx.node).readState({
      channel: req.channel,
      limit: req.limit,
      ...(req.cursor ? { cursor: req.cursor } : {}),
      ...(req.key ? { key: req.key } : {}),
      ...(req.revisionEpoch ? { revision: { offset: req.revisionOffset, epoch: req.revisionEpoch } } : {}),
    });
    const out: Record<string, unknown> = { entries: r.entries.map(entryJson), offset: r.offset, epoch: r.epoch };
    if (r.cursor) out.cursor = r.cursor;
    return out;
  },
};

interface MapReadStreamRequest {
  channel: string;
  sinceOffset: number;
  sinceEpoch: string;
  limit: number;
  reverse: boolean;
}

export const mapReadStream: ApiMethod<MapReadStreamRequest> = {
  name: 'map_read_stream',
  decode(params) {
    const o = requestObject(params);
    return {
      channel: str(o, 'channel'),
      sinceOffset: int(o, 'since_offset', UINT64),
      sinceEpoch: str(o, 'since_epoch'),
      limit: int(o, 'limit', INT32),
      reverse: bool(o, 'reverse'),
    };
  },
  async run(ctx, req) {
    requireChannel(req.channel);
    const r = await mapsOf(ctx.node).readStream({
      channel: req.channel,
      limit: req.limit,
      ...(req.sinceEpoch || req.sinceOffset > 0 ? { since: { offset: req.sinceOffset, epoch: req.sinceEpoch } } : {}),
      ...(req.reverse ? { reverse: true } : {}),
    });
    return { entries: r.entries.map(entryJson), offset: r.offset, epoch: r.epoch };
  },
};

interface MapChannelRequest {
  channel: string;
}

const decodeChannel = (params: unknown): MapChannelRequest => ({ channel: str(requestObject(params), 'channel') });

export const mapStats: ApiMethod<MapChannelRequest> = {
  name: 'map_stats',
  decode: decodeChannel,
  async run(ctx, req) {
    requireChannel(req.channel);
    const r = await mapsOf(ctx.node).stats(req.channel);
    return { num_keys: r.numKeys };
  },
};

export const mapClear: ApiMethod<MapChannelRequest> = {
  name: 'map_clear',
  decode: decodeChannel,
  async run(ctx, req) {
    requireChannel(req.channel);
    await mapsOf(ctx.node).clear(req.channel);
    return {};
  },
};
