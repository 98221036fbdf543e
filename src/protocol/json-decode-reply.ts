/**
 * Decoding of parsed JSON values into server-to-client messages (Reply, Push). The server never
 * reads these; tests and client-side tools do. Same checks as the command decoder; fields the
 * encoder always writes (ClientInfo.user, HistoryResult.epoch, …) default to their zero value.
 */
import type {
  ClientInfo,
  ConnectResult,
  DisconnectPush,
  HistoryResult,
  PresenceStatsResult,
  ProtocolErrorBody,
  Publication,
  Push,
  RefreshResult,
  Reply,
  SubRefreshResult,
  SubscribePush,
  SubscribeResult,
  UnsubscribePush,
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
  asStringMap,
  asU32,
  asU64,
  type JsonObject,
} from './json-values.js';

function clientInfoFromJson(o: JsonObject): ClientInfo {
  const m: ClientInfo = { user: '', client: '' };
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'user': m.user = asString(v, k); break;
      case 'client': m.client = asString(v, k); break;
      case 'conn_info': m.conn_info = asBytes(v); break;
      case 'chan_info': m.chan_info = asBytes(v); break;
    }
  }
  return m;
}

function publicationFromJson(o: JsonObject): Publication {
  const m: Publication = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'data': m.data = asBytes(v); break;
      case 'info': m.info = clientInfoFromJson(asObject(v, k)); break;
      case 'offset': m.offset = asU64(v, k); break;
      case 'tags': m.tags = asStringMap(v, k); break;
      case 'delta': m.delta = asBool(v, k); break;
      case 'time': m.time = asI64(v, k); break;
      case 'channel': m.channel = asString(v, k); break;
      case 'key': m.key = asString(v, k); break;
      case 'removed': m.removed = asBool(v, k); break;
      case 'score': m.score = asI64(v, k); break;
      case 'epoch': m.epoch = asString(v, k); break;
      case 'version': m.version = asU64(v, k); break;
    }
  }
  return m;
}

function subscribeResultFromJson(o: JsonObject): SubscribeResult {
  const m: SubscribeResult = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'expires': m.expires = asBool(v, k); break;
      case 'ttl': m.ttl = asU32(v, k); break;
      case 'recoverable': m.recoverable = asBool(v, k); break;
      case 'epoch': m.epoch = asString(v, k); break;
      case 'publications': m.publications = asMessageList(v, k, publicationFromJson); break;
      case 'recovered': m.recovered = asBool(v, k); break;
      case 'offset': m.offset = asU64(v, k); break;
      case 'positioned': m.positioned = asBool(v, k); break;
      case 'data': m.data = asBytes(v); break;
      case 'was_recovering': m.was_recovering = asBool(v, k); break;
      case 'delta': m.delta = asBool(v, k); break;
      case 'id': m.id = asI64(v, k); break;
      case 'type': m.type = asI32(v, k); break;
      case 'phase': m.phase = asI32(v, k); break;
      case 'cursor': m.cursor = asString(v, k); break;
      case 'state': m.state = asMessageList(v, k, publicationFromJson); break;
      case 'publish_debounce': m.publish_debounce = asU32(v, k); break;
    }
  }
  return m;
}

/** ConnectResult and Push.connect share JSON keys; only the order differs (and flag is ConnectResult-only). */
function connectResultFromJson(o: JsonObject): ConnectResult {
  const m: ConnectResult = { client: '' };
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'client': m.client = asString(v, k); break;
      case 'version': m.version = asString(v, k); break;
      case 'expires': m.expires = asBool(v, k); break;
      case 'ttl': m.ttl = asU32(v, k); break;
      case 'data': m.data = asBytes(v); break;
      case 'subs': m.subs = asMessageMap(v, k, subscribeResultFromJson); break;
      case 'ping': m.ping = asU32(v, k); break;
      case 'pong': m.pong = asBool(v, k); break;
      case 'session': m.session = asString(v, k); break;
      case 'node': m.node = asString(v, k); break;
      case 'time': m.time = asI64(v, k); break;
      case 'flag': m.flag = asI64(v, k); break;
    }
  }
  return m;
}

function codeReasonFromJson(o: JsonObject): UnsubscribePush & DisconnectPush {
  const m: UnsubscribePush & DisconnectPush = { code: 0, reason: '' };
  if (o['code'] !== null && o['code'] !== undefined) m.code = asU32(o['code'], 'code');
  if (o['reason'] !== null && o['reason'] !== undefined) m.reason = asString(o['reason'], 'reason');
  if (o['reconnect'] !== null && o['reconnect'] !== undefined) m.reconnect = asBool(o['reconnect'], 'reconnect');
  return m;
}

function subscribePushFromJson(o: JsonObject): SubscribePush {
  const m: SubscribePush = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'recoverable': m.recoverable = asBool(v, k); break;
      case 'epoch': m.epoch = asString(v, k); break;
      case 'offset': m.offset = asU64(v, k); break;
      case 'positioned': m.positioned = asBool(v, k); break;
      case 'data': m.data = asBytes(v); break;
    }
  }
  return m;
}

function expiresTtlFromJson(o: JsonObject): RefreshResult & SubRefreshResult {
  const m: RefreshResult = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'client': m.client = asString(v, k); break;
      case 'version': m.version = asString(v, k); break;
      case 'expires': m.expires = asBool(v, k); break;
      case 'ttl': m.ttl = asU32(v, k); break;
    }
  }
  return m;
}

function infoFromJson(o: JsonObject): { info: ClientInfo } {
  const v = o['info'];
  return { info: clientInfoFromJson(v === null || v === undefined ? {} : asObject(v, 'info')) };
}

function dataFromJson(o: JsonObject): { data?: Buffer } {
  const v = o['data'];
  return v === null || v === undefined ? {} : { data: asBytes(v) };
}

/** Decodes one parsed JSON Push; `{}` is the unidirectional ping. */
export function pushFromJson(value: unknown): Push {
  const o = asObject(value, 'push');
  const m: Push = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'id': m.id = asI64(v, k); break;
      case 'channel': m.channel = asString(v, k); break;
      case 'pub': m.pub = publicationFromJson(asObject(v, k)); break;
      case 'join': m.join = infoFromJson(asObject(v, k)); break;
      case 'leave': m.leave = infoFromJson(asObject(v, k)); break;
      case 'unsubscribe': {
        const u = codeReasonFromJson(asObject(v, k));
        m.unsubscribe = { code: u.code, reason: u.reason };
        break;
      }
      case 'message': m.message = dataFromJson(asObject(v, k)); break;
      case 'subscribe': m.subscribe = subscribePushFromJson(asObject(v, k)); break;
      case 'connect': {
        const c = connectResultFromJson(asObject(v, k));
        delete c.flag;
        m.connect = c;
        break;
      }
      case 'disconnect': m.disconnect = codeReasonFromJson(asObject(v, k)); break;
      case 'refresh': {
        const r = expiresTtlFromJson(asObject(v, k));
        m.refresh = {};
        if (r.expires !== undefined) m.refresh.expires = r.expires;
        if (r.ttl !== undefined) m.refresh.ttl = r.ttl;
        break;
      }
    }
  }
  return m;
}

function errorFromJson(o: JsonObject): ProtocolErrorBody {
  const m: ProtocolErrorBody = { code: 0, message: '' };
  if (o['code'] !== null && o['code'] !== undefined) m.code = asU32(o['code'], 'code');
  if (o['message'] !== null && o['message'] !== undefined) m.message = asString(o['message'], 'message');
  if (o['temporary'] !== null && o['temporary'] !== undefined) m.temporary = asBool(o['temporary'], 'temporary');
  return m;
}

function historyResultFromJson(o: JsonObject): HistoryResult {
  const m: HistoryResult = { publications: [], epoch: '', offset: 0 };
  if (o['publications'] !== null && o['publications'] !== undefined) m.publications = asMessageList(o['publications'], 'publications', publicationFromJson);
  if (o['epoch'] !== null && o['epoch'] !== undefined) m.epoch = asString(o['epoch'], 'epoch');
  if (o['offset'] !== null && o['offset'] !== undefined) m.offset = asU64(o['offset'], 'offset');
  return m;
}

function presenceStatsFromJson(o: JsonObject): PresenceStatsResult {
  const m: PresenceStatsResult = { num_clients: 0, num_users: 0 };
  if (o['num_clients'] !== null && o['num_clients'] !== undefined) m.num_clients = asU32(o['num_clients'], 'num_clients');
  if (o['num_users'] !== null && o['num_users'] !== undefined) m.num_users = asU32(o['num_users'], 'num_users');
  return m;
}

/** Decodes one parsed JSON Reply; `{}` is the ping. */
export function replyFromJson(value: unknown): Reply {
  const o = asObject(value, 'reply');
  const m: Reply = {};
  for (const k in o) {
    const v = o[k];
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'id': m.id = asU32(v, k); break;
      case 'error': m.error = errorFromJson(asObject(v, k)); break;
      case 'push': m.push = pushFromJson(v); break;
      case 'connect': m.connect = connectResultFromJson(asObject(v, k)); break;
      case 'subscribe': m.subscribe = subscribeResultFromJson(asObject(v, k)); break;
      case 'unsubscribe': asObject(v, k); m.unsubscribe = {}; break;
      case 'publish': asObject(v, k); m.publish = {}; break;
      case 'presence': {
        const p = asObject(v, k)['presence'];
        m.presence = { presence: p === null || p === undefined ? {} : asMessageMap(p, 'presence', clientInfoFromJson) };
        break;
      }
      case 'presence_stats': m.presence_stats = presenceStatsFromJson(asObject(v, k)); break;
      case 'history': m.history = historyResultFromJson(asObject(v, k)); break;
      case 'rpc': m.rpc = dataFromJson(asObject(v, k)); break;
      case 'refresh': m.refresh = expiresTtlFromJson(asObject(v, k)); break;
      case 'sub_refresh': {
        const r = expiresTtlFromJson(asObject(v, k));
        m.sub_refresh = {};
        if (r.expires !== undefined) m.sub_refresh.expires = r.expires;
        if (r.ttl !== undefined) m.sub_refresh.ttl = r.ttl;
        break;
      }
    }
  }
  return m;
}
