/**
 * Hand-built JSON encoding of server-to-client messages (Reply, Push and their payloads),
 * following protocol.md §2.1: snake_case keys in field order, zero values omitted, present
 * sub-messages written as `{}`, bytes embedded as raw JSON. Publications are encoded once per
 * protocol and fanned out, so this path builds strings directly instead of converting objects.
 */
import type {
  ClientInfo,
  ConnectPush,
  ConnectResult,
  HistoryResult,
  Leave,
  Join,
  PresenceResult,
  PresenceStatsResult,
  ProtocolErrorBody,
  Publication,
  Push,
  RPCResult,
  RefreshResult,
  Reply,
  SubRefreshResult,
  SubscribePush,
  SubscribeResult,
} from './types.js';
import { closeObject, listJson, messageMapJson, quote, rawJson, stringMapJson } from './json-values.js';

/** ClientInfo always carries `user` and `client`, even when empty. */
export function clientInfoJson(c: ClientInfo): string {
  let s = '{"user":' + quote(c.user ?? '') + ',"client":' + quote(c.client ?? '');
  if (c.conn_info !== undefined && c.conn_info.length > 0) s += ',"conn_info":' + rawJson(c.conn_info);
  if (c.chan_info !== undefined && c.chan_info.length > 0) s += ',"chan_info":' + rawJson(c.chan_info);
  return s + '}';
}

/** Encodes one Publication. */
export function publicationJson(p: Publication): string {
  let s = '';
  if (p.data !== undefined && p.data.length > 0) s += ',"data":' + rawJson(p.data);
  if (p.info !== undefined) s += ',"info":' + clientInfoJson(p.info);
  if (p.offset) s += ',"offset":' + p.offset;
  if (p.tags !== undefined) {
    const t = stringMapJson(p.tags);
    if (t) s += ',"tags":' + t;
  }
  if (p.delta) s += ',"delta":true';
  if (p.time) s += ',"time":' + p.time;
  if (p.channel) s += ',"channel":' + quote(p.channel);
  if (p.key) s += ',"key":' + quote(p.key);
  if (p.removed) s += ',"removed":true';
  if (p.score) s += ',"score":' + p.score;
  if (p.epoch) s += ',"epoch":' + quote(p.epoch);
  if (p.version) s += ',"version":' + p.version;
  return closeObject(s);
}

/** Encodes a SubscribeResult (also the value of ConnectResult.subs). */
export function subscribeResultJson(r: SubscribeResult): string {
  let s = '';
  if (r.expires) s += ',"expires":true';
  if (r.ttl) s += ',"ttl":' + r.ttl;
  if (r.recoverable) s += ',"recoverable":true';
  if (r.epoch) s += ',"epoch":' + quote(r.epoch);
  if (r.publications !== undefined && r.publications.length > 0) s += ',"publications":' + listJson(r.publications, publicationJson);
  if (r.recovered) s += ',"recovered":true';
  if (r.offset) s += ',"offset":' + r.offset;
  if (r.positioned) s += ',"positioned":true';
  if (r.data !== undefined && r.data.length > 0) s += ',"data":' + rawJson(r.data);
  if (r.was_recovering) s += ',"was_recovering":true';
  if (r.delta) s += ',"delta":true';
  if (r.id) s += ',"id":' + r.id;
  if (r.type) s += ',"type":' + r.type;
  if (r.phase) s += ',"phase":' + r.phase;
  if (r.cursor) s += ',"cursor":' + quote(r.cursor);
  if (r.state !== undefined && r.state.length > 0) s += ',"state":' + listJson(r.state, publicationJson);
  if (r.publish_debounce) s += ',"publish_debounce":' + r.publish_debounce;
  return closeObject(s);
}

function subsJson(subs: Record<string, SubscribeResult> | undefined): string {
  if (subs === undefined) return '';
  const m = messageMapJson(subs, subscribeResultJson);
  return m ? ',"subs":' + m : '';
}

/** Encodes a ConnectResult (Reply.connect) in its own field order. */
export function connectResultJson(r: ConnectResult): string {
  let s = '';
  if (r.client) s += ',"client":' + quote(r.client);
  if (r.version) s += ',"version":' + quote(r.version);
  if (r.expires) s += ',"expires":true';
  if (r.ttl) s += ',"ttl":' + r.ttl;
  if (r.data !== undefined && r.data.length > 0) s += ',"data":' + rawJson(r.data);
  s += subsJson(r.subs);
  if (r.ping) s += ',"ping":' + r.ping;
  if (r.pong) s += ',"pong":true';
  if (r.session) s += ',"session":' + quote(r.session);
  if (r.node) s += ',"node":' + quote(r.node);
  if (r.time) s += ',"time":' + r.time;
  if (r.flag) s += ',"flag":' + r.flag;
  return closeObject(s);
}

/** Encodes the Push.connect message, whose field order differs from ConnectResult and has no flag. */
export function connectPushJson(r: ConnectPush): string {
  let s = '';
  if (r.client) s += ',"client":' + quote(r.client);
  if (r.version) s += ',"version":' + quote(r.version);
  if (r.data !== undefined && r.data.length > 0) s += ',"data":' + rawJson(r.data);
  s += subsJson(r.subs);
  if (r.expires) s += ',"expires":true';
  if (r.ttl) s += ',"ttl":' + r.ttl;
  if (r.ping) s += ',"ping":' + r.ping;
  if (r.pong) s += ',"pong":true';
  if (r.session) s += ',"session":' + quote(r.session);
  if (r.node) s += ',"node":' + quote(r.node);
  if (r.time) s += ',"time":' + r.time;
  return closeObject(s);
}

function infoOnlyJson(m: Join | Leave): string {
  return '{"info":' + clientInfoJson(m.info) + '}';
}

function codeReasonJson(code: number, reason: string): string {
  let s = '';
  if (code) s += ',"code":' + code;
  if (reason) s += ',"reason":' + quote(reason);
  return s;
}

function subscribePushJson(p: SubscribePush): string {
  let s = '';
  if (p.recoverable) s += ',"recoverable":true';
  if (p.epoch) s += ',"epoch":' + quote(p.epoch);
  if (p.offset) s += ',"offset":' + p.offset;
  if (p.positioned) s += ',"positioned":true';
  if (p.data !== undefined && p.data.length > 0) s += ',"data":' + rawJson(p.data);
  return closeObject(s);
}

/** Encodes a Push (bare on unidirectional transports, wrapped in Reply.push otherwise); `{}` is the uni ping. */
export function pushJson(p: Push): string {
  let s = '';
  if (p.id) s += ',"id":' + p.id;
  if (p.channel) s += ',"channel":' + quote(p.channel);
  if (p.pub !== undefined) s += ',"pub":' + publicationJson(p.pub);
  if (p.join !== undefined) s += ',"join":' + infoOnlyJson(p.join);
  if (p.leave !== undefined) s += ',"leave":' + infoOnlyJson(p.leave);
  if (p.unsubscribe !== undefined) s += ',"unsubscribe":' + closeObject(codeReasonJson(p.unsubscribe.code, p.unsubscribe.reason));
  if (p.message !== undefined) {
    const d = p.message.data;
    s += ',"message":' + (d !== undefined && d.length > 0 ? '{"data":' + rawJson(d) + '}' : '{}');
  }
  if (p.subscribe !== undefined) s += ',"subscribe":' + subscribePushJson(p.subscribe);
  if (p.connect !== undefined) s += ',"connect":' + connectPushJson(p.connect);
  if (p.disconnect !== undefined) {
    const d = p.disconnect;
    s += ',"disconnect":' + closeObject(codeReasonJson(d.code, d.reason) + (d.reconnect ? ',"reconnect":true' : ''));
  }
  if (p.refresh !== undefined) s += ',"refresh":' + expiresTtl(p.refresh.expires, p.refresh.ttl);
  return closeObject(s);
}

function expiresTtl(expires: boolean | undefined, ttl: number | undefined): string {
  let s = '';
  if (expires) s += ',"expires":true';
  if (ttl) s += ',"ttl":' + ttl;
  return closeObject(s);
}

function errorJson(e: ProtocolErrorBody): string {
  let s = '';
  if (e.code) s += ',"code":' + e.code;
  if (e.message) s += ',"message":' + quote(e.message);
  if (e.temporary) s += ',"temporary":true';
  return closeObject(s);
}

function presenceResultJson(r: PresenceResult): string {
  return '{"presence":' + (messageMapJson(r.presence ?? {}, clientInfoJson) || '{}') + '}';
}

function presenceStatsJson(r: PresenceStatsResult): string {
  return '{"num_clients":' + (r.num_clients || 0) + ',"num_users":' + (r.num_users || 0) + '}';
}

function historyResultJson(r: HistoryResult): string {
  return '{"publications":' + listJson(r.publications ?? [], publicationJson) + ',"epoch":' + quote(r.epoch ?? '') + ',"offset":' + (r.offset || 0) + '}';
}

function rpcResultJson(r: RPCResult): string {
  return r.data !== undefined && r.data.length > 0 ? '{"data":' + rawJson(r.data) + '}' : '{}';
}

function refreshResultJson(r: RefreshResult): string {
  let s = '';
  if (r.client) s += ',"client":' + quote(r.client);
  if (r.version) s += ',"version":' + quote(r.version);
  if (r.expires) s += ',"expires":true';
  if (r.ttl) s += ',"ttl":' + r.ttl;
  return closeObject(s);
}

function subRefreshResultJson(r: SubRefreshResult): string {
  return expiresTtl(r.expires, r.ttl);
}

/** Encodes a Reply as one JSON line (no newline). The empty Reply, the ping, is `{}`. */
export function replyJson(r: Reply): string {
  let s = '';
  if (r.id) s += ',"id":' + r.id;
  if (r.error !== undefined) s += ',"error":' + errorJson(r.error);
  if (r.push !== undefined) s += ',"push":' + pushJson(r.push);
  if (r.connect !== undefined) s += ',"connect":' + connectResultJson(r.connect);
  if (r.subscribe !== undefined) s += ',"subscribe":' + subscribeResultJson(r.subscribe);
  if (r.unsubscribe !== undefined) s += ',"unsubscribe":{}';
  if (r.publish !== undefined) s += ',"publish":{}';
  if (r.presence !== undefined) s += ',"presence":' + presenceResultJson(r.presence);
  if (r.presence_stats !== undefined) s += ',"presence_stats":' + presenceStatsJson(r.presence_stats);
  if (r.history !== undefined) s += ',"history":' + historyResultJson(r.history);
  if (r.rpc !== undefined) s += ',"rpc":' + rpcResultJson(r.rpc);
  if (r.refresh !== undefined) s += ',"refresh":' + refreshResultJson(r.refresh);
  if (r.sub_refresh !== undefined) s += ',"sub_refresh":' + subRefreshResultJson(r.sub_refresh);
  return closeObject(s);
}
