/**
 * Protobuf decoding of client-to-server messages. Each decoder reads fields until `end`; unknown
 * fields, and known fields with an unexpected wire type, are skipped. A zero-length sub-message
 * decodes to `{}` (present), a missing one stays undefined.
 */
import type {
  Command,
  ConnectRequest,
  EmulationRequest,
  FilterNode,
  HistoryRequest,
  PublishRequest,
  RPCRequest,
  StreamPosition,
  SubRefreshRequest,
  TrackBatchMessage,
  KeyedItem,
  SubscribeRequest,
} from './types.js';
import {
  readBytes,
  readI64,
  readMessageMapEntry,
  readMsg,
  readStringMapEntry,
  readString,
  readU64,
  skipField,
  type Reader,
} from './proto-wire.js';
import { CodecError } from './codec-error.js';
import { FILTER_DECODE_LIMITS } from './tag-filter.js';

/**
 * Reads a tags-filter tree. Depth, node count and vals count are capped by FILTER_DECODE_LIMITS
 * (CodecError past them), so recursion and memory stay bounded whatever the client sends.
 */
function filterTree(r: Reader, end: number): FilterNode {
  return filterNode(r, end, 1, { nodes: 0, vals: 0 });
}

function filterNode(r: Reader, end: number, depth: number, budget: { nodes: number; vals: number }): FilterNode {
  if (++budget.nodes > FILTER_DECODE_LIMITS.maxNodes) throw new CodecError('bad_request', `tags filter has more than ${FILTER_DECODE_LIMITS.maxNodes} nodes`);
  const m: FilterNode = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.op = readString(r); break;
      case 18: m.key = readString(r); break;
      case 26: m.cmp = readString(r); break;
      case 34: m.val = readString(r); break;
      case 42:
        if (++budget.vals > FILTER_DECODE_LIMITS.maxVals) throw new CodecError('bad_request', `tags filter has more than ${FILTER_DECODE_LIMITS.maxVals} vals`);
        (m.vals ??= []).push(readString(r));
        break;
      case 50:
        if (depth >= FILTER_DECODE_LIMITS.maxDepth) throw new CodecError('bad_request', `tags filter nested deeper than ${FILTER_DECODE_LIMITS.maxDepth} levels`);
        (m.nodes ??= []).push(readMsg(r, (r, e) => filterNode(r, e, depth + 1, budget)));
        break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function subscribeRequest(r: Reader, end: number): SubscribeRequest {
  const m: SubscribeRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.channel = readString(r); break;
      case 18: m.token = readString(r); break;
      case 24: m.recover = r.bool(); break;
      case 50: m.epoch = readString(r); break;
      case 56: m.offset = readU64(r); break;
      case 66: m.data = readBytes(r); break;
      case 72: m.positioned = r.bool(); break;
      case 80: m.recoverable = r.bool(); break;
      case 88: m.join_leave = r.bool(); break;
      case 98: m.delta = readString(r); break;
      case 106: m.tf = readMsg(r, filterTree); break;
      case 112: m.flag = readI64(r); break;
      case 120: m.type = r.int32(); break;
      case 128: m.phase = r.int32(); break;
      case 138: m.cursor = readString(r); break;
      case 144: m.limit = r.int32(); break;
      case 152: m.asc = r.bool(); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

/** Reads a ConnectRequest's fields until `end` (Command.connect, or a uni_grpc connect body). */
export function readConnectRequest(r: Reader, end: number): ConnectRequest {
  const m: ConnectRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.token = readString(r); break;
      case 18: m.data = readBytes(r); break;
      case 26: readMessageMapEntry(r, (m.subs ??= {}), subscribeRequest); break;
      case 34: m.name = readString(r); break;
      case 42: m.version = readString(r); break;
      case 50: readStringMapEntry(r, (m.headers ??= {})); break;
      case 56: m.flag = readI64(r); break;
      case 66: m.dict = readString(r); break;
      case 74: m.profile = readString(r); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function channelOnly(r: Reader, end: number): { channel?: string } {
  const m: { channel?: string } = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.channel = readString(r);
    else skipField(r, tag);
  }
  return m;
}

function publishRequest(r: Reader, end: number): PublishRequest {
  const m: PublishRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.channel = readString(r); break;
      case 18: m.data = readBytes(r); break;
      case 24: m.type = r.int32(); break;
      case 34: m.key = readString(r); break;
      case 40: m.removed = r.bool(); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function streamPosition(r: Reader, end: number): StreamPosition {
  const m: StreamPosition = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 8) m.offset = readU64(r);
    else if (tag === 18) m.epoch = readString(r);
    else skipField(r, tag);
  }
  return m;
}

function historyRequest(r: Reader, end: number): HistoryRequest {
  const m: HistoryRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.channel = readString(r); break;
      case 56: m.limit = r.int32(); break;
      case 66: m.since = readMsg(r, streamPosition); break;
      case 72: m.reverse = r.bool(); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function dataOnly(r: Reader, end: number): { data?: Buffer } {
  const m: { data?: Buffer } = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.data = readBytes(r);
    else skipField(r, tag);
  }
  return m;
}

function rpcRequest(r: Reader, end: number): RPCRequest {
  const m: RPCRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.data = readBytes(r);
    else if (tag === 18) m.method = readString(r);
    else skipField(r, tag);
  }
  return m;
}

function refreshRequest(r: Reader, end: number): { token?: string } {
  const m: { token?: string } = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.token = readString(r);
    else skipField(r, tag);
  }
  return m;
}

/** SubRefreshRequest: token refresh, or shared-poll track (4) / untrack (5). */
function subRefreshRequest(r: Reader, end: number): SubRefreshRequest {
  const m: SubRefreshRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.channel = readString(r);
    else if (tag === 18) m.token = readString(r);
    else if (tag === 24) m.type = r.int32();
    else if (tag === 34) (m.track ??= []).push(readMsg(r, trackBatch));
    else if (tag === 42) (m.untrack ??= []).push(readString(r));
    else skipField(r, tag);
  }
  return m;
}

function trackBatch(r: Reader, end: number): TrackBatchMessage {
  const m: TrackBatchMessage = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.signature = readString(r);
    else if (tag === 18) (m.items ??= []).push(readMsg(r, keyedItem));
    else skipField(r, tag);
  }
  return m;
}

function keyedItem(r: Reader, end: number): KeyedItem {
  const m: KeyedItem = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.key = readString(r);
    else if (tag === 16) m.version = readU64(r);
    else skipField(r, tag);
  }
  return m;
}

function emptyMessage(r: Reader, end: number): Record<string, never> {
  while (r.pos < end) skipField(r, r.uint32());
  return {};
}

/** Reads a Command's fields until `end`; a Command with no fields is the pong. */
export function readCommand(r: Reader, end: number): Command {
  const m: Command = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 8: m.id = r.uint32(); break;
      case 34: m.connect = readMsg(r, readConnectRequest); break;
      case 42: m.subscribe = readMsg(r, subscribeRequest); break;
      case 50: m.unsubscribe = readMsg(r, channelOnly); break;
      case 58: m.publish = readMsg(r, publishRequest); break;
      case 66: m.presence = readMsg(r, channelOnly); break;
      case 74: m.presence_stats = readMsg(r, channelOnly); break;
      case 82: m.history = readMsg(r, historyRequest); break;
      case 90: m.ping = readMsg(r, emptyMessage); break;
      case 98: m.send = readMsg(r, dataOnly); break;
      case 106: m.rpc = readMsg(r, rpcRequest); break;
      case 114: m.refresh = readMsg(r, refreshRequest); break;
      case 122: m.sub_refresh = readMsg(r, subRefreshRequest); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

/** Reads an EmulationRequest's fields until `end`. */
export function readEmulationRequest(r: Reader, end: number): EmulationRequest {
  const m: EmulationRequest = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.node = readString(r);
    else if (tag === 18) m.session = readString(r);
    else if (tag === 26) m.data = readBytes(r);
    else skipField(r, tag);
  }
  return m;
}
