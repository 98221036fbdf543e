/**
 * Decoding of parsed JSON values into client-to-server messages. Every field is type-checked;
 * a mismatch throws CodecError('bad_request'). Unknown keys are ignored, null means absent, and
 * bytes fields keep the compact JSON text of whatever value they held.
 */
import type {
  Command,
  ConnectRequest,
  FilterNode,
  HistoryRequest,
  KeyedItem,
  PublishRequest,
  RPCRequest,
  StreamPosition,
  SubRefreshRequest,
  SubscribeRequest,
  TrackBatchMessage,
} from './types.js';
import {
  asBool,
  asBytes,
  asI32,
  asI64,
  asMessageList,
  asMessageMap,
  asObject,
  asString,
  asStringList,
  asStringMap,
  asU32,
  asU64,
  type JsonObject,
} from './json-values.js';
import { CodecError } from './codec-error.js';
import { FILTER_DECODE_LIMITS } from './tag-filter.js';

/**
 * Decodes a tags-filter tree. Depth, node count and vals count are capped by FILTER_DECODE_LIMITS
 * (CodecError past them), so recursion and memory stay bounded whatever the client sends.
 */
export function filterNodeFromJson(o: JsonObject): FilterNode {
  return filterNodeAt(o, 1, { nodes: 0, vals: 0 });
}

function filterNodeAt(o: JsonObject, depth: number, budget: { nodes: number; vals: number }): FilterNode {
  if (depth > FILTER_DECODE_LIMITS.maxDepth) throw new CodecError('bad_request', `tags filter nested deeper than ${FILTER_DECODE_LIMITS.maxDepth} levels`);
  if (++budget.nodes > FILTER_DECODE_LIMITS.maxNodes) throw new CodecError('bad_request', `tags filter has more than ${FILTER_DECODE_LIMITS.maxNodes} nodes`);
  const m: FilterNode = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'op': m.op = asString(v, k); break;
      case 'key': m.key = asString(v, k); break;
      case 'cmp': m.cmp = asString(v, k); break;
      case 'val': m.val = asString(v, k); break;
      case 'vals':
        m.vals = asStringList(v, k);
        budget.vals += m.vals.length;
        if (budget.vals > FILTER_DECODE_LIMITS.maxVals) throw new CodecError('bad_request', `tags filter has more than ${FILTER_DECODE_LIMITS.maxVals} vals`);
        break;
      case 'nodes': m.nodes = asMessageList(v, k, (c) => filterNodeAt(c, depth + 1, budget)); break;
    }
  }
  return m;
}

/** Decodes a SubscribeRequest (also the values of ConnectRequest.subs). */
export function subscribeRequestFromJson(o: JsonObject): SubscribeRequest {
  const m: SubscribeRequest = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'channel': m.channel = asString(v, k); break;
      case 'token': m.token = asString(v, k); break;
      case 'recover': m.recover = asBool(v, k); break;
      case 'epoch': m.epoch = asString(v, k); break;
      case 'offset': m.offset = asU64(v, k); break;
      case 'data': m.data = asBytes(v); break;
      case 'positioned': m.positioned = asBool(v, k); break;
      case 'recoverable': m.recoverable = asBool(v, k); break;
      case 'join_leave': m.join_leave = asBool(v, k); break;
      case 'delta': m.delta = asString(v, k); break;
      case 'tf': m.tf = filterNodeFromJson(asObject(v, k)); break;
      case 'flag': m.flag = asI64(v, k); break;
      case 'type': m.type = asI32(v, k); break;
      case 'phase': m.phase = asI32(v, k); break;
      case 'cursor': m.cursor = asString(v, k); break;
      case 'limit': m.limit = asI32(v, k); break;
      case 'asc': m.asc = asBool(v, k); break;
    }
  }
  return m;
}

/** Decodes a ConnectRequest: inside Command.connect, or the bare body of a unidirectional connect. */
export function connectRequestFromJson(o: JsonObject): ConnectRequest {
  const m: ConnectRequest = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'token': m.token = asString(v, k); break;
      case 'data': m.data = asBytes(v); break;
      case 'subs': m.subs = asMessageMap(v, k, subscribeRequestFromJson); break;
      case 'name': m.name = asString(v, k); break;
      case 'version': m.version = asString(v, k); break;
      case 'headers': m.headers = asStringMap(v, k); break;
      case 'flag': m.flag = asI64(v, k); break;
      case 'dict': m.dict = asString(v, k); break;
      case 'profile': m.profile = asString(v, k); break;
    }
  }
  return m;
}

function channelFromJson(o: JsonObject): { channel?: string } {
  const v = o['channel'];
  return v === null || v === undefined ? {} : { channel: asString(v, 'channel') };
}

function publishRequestFromJson(o: JsonObject): PublishRequest {
  const m: PublishRequest = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'channel': m.channel = asString(v, k); break;
      case 'data': m.data = asBytes(v); break;
      case 'type': m.type = asI32(v, k); break;
      case 'key': m.key = asString(v, k); break;
      case 'removed': m.removed = asBool(v, k); break;
    }
  }
  return m;
}

function streamPositionFromJson(o: JsonObject): StreamPosition {
  const m: StreamPosition = {};
  if (o['offset'] !== null && o['offset'] !== undefined) m.offset = asU64(o['offset'], 'offset');
  if (o['epoch'] !== null && o['epoch'] !== undefined) m.epoch = asString(o['epoch'], 'epoch');
  return m;
}

function historyRequestFromJson(o: JsonObject): HistoryRequest {
  const m: HistoryRequest = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'channel': m.channel = asString(v, k); break;
      case 'limit': m.limit = asI32(v, k); break;
      case 'since': m.since = streamPositionFromJson(asObject(v, k)); break;
      case 'reverse': m.reverse = asBool(v, k); break;
    }
  }
  return m;
}

function dataFromJson(o: JsonObject): { data?: Buffer } {
  const v = o['data'];
  return v === null || v === undefined ? {} : { data: asBytes(v) };
}

function rpcRequestFromJson(o: JsonObject): RPCRequest {
  const m: RPCRequest = dataFromJson(o);
  if (o['method'] !== null && o['method'] !== undefined) m.method = asString(o['method'], 'method');
  return m;
}

function subRefreshRequestFromJson(o: JsonObject): SubRefreshRequest {
  const m: SubRefreshRequest = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'channel': m.channel = asString(v, k); break;
      case 'token': m.token = asString(v, k); break;
      case 'type': m.type = asI32(v, k); break;
      case 'track': m.track = asMessageList(v, k, trackBatchFromJson); break;
      case 'untrack': m.untrack = asStringList(v, k); break;
    }
  }
  return m;
}

function trackBatchFromJson(o: JsonObject): TrackBatchMessage {
  const m: TrackBatchMessage = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    if (k === 'signature') m.signature = asString(v, k);
    else if (k === 'items') m.items = asMessageList(v, k, keyedItemFromJson);
  }
  return m;
}

function keyedItemFromJson(o: JsonObject): KeyedItem {
  const m: KeyedItem = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    if (k === 'key') m.key = asString(v, k);
    else if (k === 'version') m.version = asU64(v, k);
  }
  return m;
}

/** Decodes one parsed JSON command. `{}` gives a Command with no fields: the pong. */
export function commandFromJson(value: unknown): Command {
  const o = asObject(value, 'command');
  const m: Command = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'id': m.id = asU32(v, k); break;
      case 'connect': m.connect = connectRequestFromJson(asObject(v, k)); break;
      case 'subscribe': m.subscribe = subscribeRequestFromJson(asObject(v, k)); break;
      case 'unsubscribe': m.unsubscribe = channelFromJson(asObject(v, k)); break;
      case 'publish': m.publish = publishRequestFromJson(asObject(v, k)); break;
      case 'presence': m.presence = channelFromJson(asObject(v, k)); break;
      case 'presence_stats': m.presence_stats = channelFromJson(asObject(v, k)); break;
      case 'history': m.history = historyRequestFromJson(asObject(v, k)); break;
      case 'ping': asObject(v, k); m.ping = {}; break;
      case 'send': m.send = dataFromJson(asObject(v, k)); break;
      case 'rpc': m.rpc = rpcRequestFromJson(asObject(v, k)); break;
      case 'refresh': {
        const t = asObject(v, k)['token'];
        m.refresh = t === null || t === undefined ? {} : { token: asString(t, 'token') };
        break;
      }
      case 'sub_refresh': m.sub_refresh = subRefreshRequestFromJson(asObject(v, k)); break;
    }
  }
  return m;
}
