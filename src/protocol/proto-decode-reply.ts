/**
 * Protobuf decoding of server-to-client messages (Reply, Push). The server never reads these;
 * tests and client-side tools do. Same rules as the command decoder: unknown fields skipped,
 * zero-length sub-messages present as `{}`, always-present fields defaulted to zero values.
 */
import type {
  ClientInfo,
  ConnectResult,
  HistoryResult,
  PresenceStatsResult,
  ProtocolErrorBody,
  Publication,
  Push,
  RefreshResult,
  Reply,
  SubscribePush,
  SubscribeResult,
} from './types.js';
import {
  readBytes,
  readI64,
  readMessageMapEntry,
  readMsg,
  readS64,
  readStringMapEntry,
  readString,
  readU64,
  skipField,
  type Reader,
} from './proto-wire.js';

function clientInfo(r: Reader, end: number): ClientInfo {
  const m: ClientInfo = { user: '', client: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.user = readString(r); break;
      case 18: m.client = readString(r); break;
      case 26: m.conn_info = readBytes(r); break;
      case 34: m.chan_info = readBytes(r); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function publication(r: Reader, end: number): Publication {
  const m: Publication = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 34: m.data = readBytes(r); break;
      case 42: m.info = readMsg(r, clientInfo); break;
      case 48: m.offset = readU64(r); break;
      case 58: readStringMapEntry(r, (m.tags ??= {})); break;
      case 64: m.delta = r.bool(); break;
      case 72: m.time = readI64(r); break;
      case 82: m.channel = readString(r); break;
      case 90: m.key = readString(r); break;
      case 96: m.removed = r.bool(); break;
      case 104: m.score = readS64(r); break;
      case 114: m.epoch = readString(r); break;
      case 128: m.version = readU64(r); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function subscribeResult(r: Reader, end: number): SubscribeResult {
  const m: SubscribeResult = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 8: m.expires = r.bool(); break;
      case 16: m.ttl = r.uint32(); break;
      case 24: m.recoverable = r.bool(); break;
      case 50: m.epoch = readString(r); break;
      case 58: (m.publications ??= []).push(readMsg(r, publication)); break;
      case 64: m.recovered = r.bool(); break;
      case 72: m.offset = readU64(r); break;
      case 80: m.positioned = r.bool(); break;
      case 90: m.data = readBytes(r); break;
      case 96: m.was_recovering = r.bool(); break;
      case 104: m.delta = r.bool(); break;
      case 112: m.id = readI64(r); break;
      case 120: m.type = r.int32(); break;
      case 128: m.phase = r.int32(); break;
      case 138: m.cursor = readString(r); break;
      case 146: (m.state ??= []).push(readMsg(r, publication)); break;
      case 152: m.publish_debounce = r.uint32(); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function connectResult(r: Reader, end: number): ConnectResult {
  const m: ConnectResult = { client: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.client = readString(r); break;
      case 18: m.version = readString(r); break;
      case 24: m.expires = r.bool(); break;
      case 32: m.ttl = r.uint32(); break;
      case 42: m.data = readBytes(r); break;
      case 50: readMessageMapEntry(r, (m.subs ??= {}), subscribeResult); break;
      case 56: m.ping = r.uint32(); break;
      case 64: m.pong = r.bool(); break;
      case 74: m.session = readString(r); break;
      case 82: m.node = readString(r); break;
      case 88: m.time = readI64(r); break;
      case 96: m.flag = readI64(r); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function connectPush(r: Reader, end: number): ConnectResult {
  const m: ConnectResult = { client: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.client = readString(r); break;
      case 18: m.version = readString(r); break;
      case 26: m.data = readBytes(r); break;
      case 34: readMessageMapEntry(r, (m.subs ??= {}), subscribeResult); break;
      case 40: m.expires = r.bool(); break;
      case 48: m.ttl = r.uint32(); break;
      case 56: m.ping = r.uint32(); break;
      case 64: m.pong = r.bool(); break;
      case 74: m.session = readString(r); break;
      case 82: m.node = readString(r); break;
      case 88: m.time = readI64(r); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function info(r: Reader, end: number): { info: ClientInfo } {
  let ci: ClientInfo | undefined;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) ci = readMsg(r, clientInfo);
    else skipField(r, tag);
  }
  return { info: ci ?? { user: '', client: '' } };
}

/** Reads code/reason fields numbered `codeTag`/`reasonTag`, plus Disconnect.reconnect (tag 24). */
function codeReason(codeTag: number, reasonTag: number) {
  return (r: Reader, end: number): { code: number; reason: string; reconnect?: boolean } => {
    const m: { code: number; reason: string; reconnect?: boolean } = { code: 0, reason: '' };
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag === codeTag) m.code = r.uint32();
      else if (tag === reasonTag) m.reason = readString(r);
      else if (tag === 24 && codeTag === 8) m.reconnect = r.bool();
      else skipField(r, tag);
    }
    return m;
  };
}
const unsubscribePush = codeReason(16, 26);
const disconnectPush = codeReason(8, 18);

function subscribePush(r: Reader, end: number): SubscribePush {
  const m: SubscribePush = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 8: m.recoverable = r.bool(); break;
      case 34: m.epoch = readString(r); break;
      case 40: m.offset = readU64(r); break;
      case 48: m.positioned = r.bool(); break;
      case 58: m.data = readBytes(r); break;
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

function expiresTtl(r: Reader, end: number): { expires?: boolean; ttl?: number } {
  const m: { expires?: boolean; ttl?: number } = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 8) m.expires = r.bool();
    else if (tag === 16) m.ttl = r.uint32();
    else skipField(r, tag);
  }
  return m;
}

/** Reads a Push's fields until `end`; no fields is the unidirectional ping. */
export function readPush(r: Reader, end: number): Push {
  const m: Push = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 8: m.id = readI64(r); break;
      case 18: m.channel = readString(r); break;
      case 34: m.pub = readMsg(r, publication); break;
      case 42: m.join = readMsg(r, info); break;
      case 50: m.leave = readMsg(r, info); break;
      case 58: m.unsubscribe = readMsg(r, unsubscribePush); break;
      case 66: m.message = readMsg(r, dataOnly); break;
      case 74: m.subscribe = readMsg(r, subscribePush); break;
      case 82: m.connect = readMsg(r, connectPush); break;
      case 90: m.disconnect = readMsg(r, disconnectPush); break;
      case 98: m.refresh = readMsg(r, expiresTtl); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function error(r: Reader, end: number): ProtocolErrorBody {
  const m: ProtocolErrorBody = { code: 0, message: '' };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 8) m.code = r.uint32();
    else if (tag === 18) m.message = readString(r);
    else if (tag === 24) m.temporary = r.bool();
    else skipField(r, tag);
  }
  return m;
}

function presenceResult(r: Reader, end: number): { presence: Record<string, ClientInfo> } {
  const presence: Record<string, ClientInfo> = {};
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) readMessageMapEntry(r, presence, clientInfo);
    else skipField(r, tag);
  }
  return { presence };
}

function presenceStats(r: Reader, end: number): PresenceStatsResult {
  const m: PresenceStatsResult = { num_clients: 0, num_users: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 8) m.num_clients = r.uint32();
    else if (tag === 16) m.num_users = r.uint32();
    else skipField(r, tag);
  }
  return m;
}

function historyResult(r: Reader, end: number): HistoryResult {
  const m: HistoryResult = { publications: [], epoch: '', offset: 0 };
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 10) m.publications.push(readMsg(r, publication));
    else if (tag === 18) m.epoch = readString(r);
    else if (tag === 24) m.offset = readU64(r);
    else skipField(r, tag);
  }
  return m;
}

function refreshResult(r: Reader, end: number): RefreshResult {
  const m: RefreshResult = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 10: m.client = readString(r); break;
      case 18: m.version = readString(r); break;
      case 24: m.expires = r.bool(); break;
      case 32: m.ttl = r.uint32(); break;
      default: skipField(r, tag);
    }
  }
  return m;
}

function emptyMessage(r: Reader, end: number): Record<string, never> {
  while (r.pos < end) skipField(r, r.uint32());
  return {};
}

/** Reads a Reply's fields until `end`; no fields is the ping. */
export function readReply(r: Reader, end: number): Reply {
  const m: Reply = {};
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 8: m.id = r.uint32(); break;
      case 18: m.error = readMsg(r, error); break;
      case 34: m.push = readMsg(r, readPush); break;
      case 42: m.connect = readMsg(r, connectResult); break;
      case 50: m.subscribe = readMsg(r, subscribeResult); break;
      case 58: m.unsubscribe = readMsg(r, emptyMessage); break;
      case 66: m.publish = readMsg(r, emptyMessage); break;
      case 74: m.presence = readMsg(r, presenceResult); break;
      case 82: m.presence_stats = readMsg(r, presenceStats); break;
      case 90: m.history = readMsg(r, historyResult); break;
      case 106: m.rpc = readMsg(r, dataOnly); break;
      case 114: m.refresh = readMsg(r, refreshResult); break;
      case 122: m.sub_refresh = readMsg(r, expiresTtl); break;
      default: skipField(r, tag);
    }
  }
  return m;
}
