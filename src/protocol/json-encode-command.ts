/**
 * JSON encoding of client-to-server messages (Command and its requests). The server never
 * sends these; tests, benchmarks and tools that act as clients do. Same rules as replies (§2.1).
 */
import type {
  Command,
  ConnectRequest,
  FilterNode,
  HistoryRequest,
  PublishRequest,
  SubRefreshRequest,
  TrackBatchMessage,
  KeyedItem,
  SubscribeRequest,
} from './types.js';
import { closeObject, listJson, messageMapJson, quote, rawJson, stringMapJson } from './json-values.js';

function bytesField(key: string, b: Uint8Array | undefined): string {
  return b !== undefined && b.length > 0 ? ',"' + key + '":' + rawJson(b) : '';
}

function channelOnly(channel: string | undefined): string {
  return channel ? '{"channel":' + quote(channel) + '}' : '{}';
}

/** Encodes a tags-filter tree node. */
export function filterNodeJson(n: FilterNode): string {
  let s = '';
  if (n.op) s += ',"op":' + quote(n.op);
  if (n.key) s += ',"key":' + quote(n.key);
  if (n.cmp) s += ',"cmp":' + quote(n.cmp);
  if (n.val) s += ',"val":' + quote(n.val);
  if (n.vals !== undefined && n.vals.length > 0) s += ',"vals":' + listJson(n.vals, quote);
  if (n.nodes !== undefined && n.nodes.length > 0) s += ',"nodes":' + listJson(n.nodes, filterNodeJson);
  return closeObject(s);
}

/** Encodes a SubscribeRequest (also the value of ConnectRequest.subs). */
export function subscribeRequestJson(r: SubscribeRequest): string {
  let s = '';
  if (r.channel) s += ',"channel":' + quote(r.channel);
  if (r.token) s += ',"token":' + quote(r.token);
  if (r.recover) s += ',"recover":true';
  if (r.epoch) s += ',"epoch":' + quote(r.epoch);
  if (r.offset) s += ',"offset":' + r.offset;
  s += bytesField('data', r.data);
  if (r.positioned) s += ',"positioned":true';
  if (r.recoverable) s += ',"recoverable":true';
  if (r.join_leave) s += ',"join_leave":true';
  if (r.delta) s += ',"delta":' + quote(r.delta);
  if (r.tf !== undefined) s += ',"tf":' + filterNodeJson(r.tf);
  if (r.flag) s += ',"flag":' + r.flag;
  if (r.type) s += ',"type":' + r.type;
  if (r.phase) s += ',"phase":' + r.phase;
  if (r.cursor) s += ',"cursor":' + quote(r.cursor);
  if (r.limit) s += ',"limit":' + r.limit;
  if (r.asc) s += ',"asc":true';
  return closeObject(s);
}

/** Encodes a ConnectRequest; also the bare body of unidirectional connects. */
export function connectRequestJson(r: ConnectRequest): string {
  let s = '';
  if (r.token) s += ',"token":' + quote(r.token);
  s += bytesField('data', r.data);
  if (r.subs !== undefined) {
    const m = messageMapJson(r.subs, subscribeRequestJson);
    if (m) s += ',"subs":' + m;
  }
  if (r.name) s += ',"name":' + quote(r.name);
  if (r.version) s += ',"version":' + quote(r.version);
  if (r.headers !== undefined) {
    const m = stringMapJson(r.headers);
    if (m) s += ',"headers":' + m;
  }
  if (r.flag) s += ',"flag":' + r.flag;
  if (r.dict) s += ',"dict":' + quote(r.dict);
  if (r.profile) s += ',"profile":' + quote(r.profile);
  return closeObject(s);
}

function publishRequestJson(r: PublishRequest): string {
  let s = '';
  if (r.channel) s += ',"channel":' + quote(r.channel);
  s += bytesField('data', r.data);
  if (r.type) s += ',"type":' + r.type;
  if (r.key) s += ',"key":' + quote(r.key);
  if (r.removed) s += ',"removed":true';
  return closeObject(s);
}

function historyRequestJson(r: HistoryRequest): string {
  let s = '';
  if (r.channel) s += ',"channel":' + quote(r.channel);
  if (r.limit) s += ',"limit":' + r.limit;
  if (r.since !== undefined) {
    let p = '';
    if (r.since.offset) p += ',"offset":' + r.since.offset;
    if (r.since.epoch) p += ',"epoch":' + quote(r.since.epoch);
    s += ',"since":' + closeObject(p);
  }
  if (r.reverse) s += ',"reverse":true';
  return closeObject(s);
}

function subRefreshRequestJson(r: SubRefreshRequest): string {
  let s = '';
  if (r.channel) s += ',"channel":' + quote(r.channel);
  if (r.token) s += ',"token":' + quote(r.token);
  if (r.type) s += ',"type":' + r.type;
  if (r.track !== undefined && r.track.length > 0) s += ',"track":[' + r.track.map(trackBatchJson).join(',') + ']';
  if (r.untrack !== undefined && r.untrack.length > 0) s += ',"untrack":[' + r.untrack.map(quote).join(',') + ']';
  return closeObject(s);
}

function trackBatchJson(b: TrackBatchMessage): string {
  let s = '';
  if (b.signature) s += ',"signature":' + quote(b.signature);
  if (b.items !== undefined && b.items.length > 0) s += ',"items":[' + b.items.map(keyedItemJson).join(',') + ']';
  return closeObject(s);
}

function keyedItemJson(i: KeyedItem): string {
  let s = '';
  if (i.key) s += ',"key":' + quote(i.key);
  if (i.version) s += ',"version":' + i.version;
  return closeObject(s);
}

/** Encodes a Command as one JSON line (no newline). The empty Command, the pong, is `{}`. */
export function commandJson(c: Command): string {
  let s = '';
  if (c.id) s += ',"id":' + c.id;
  if (c.connect !== undefined) s += ',"connect":' + connectRequestJson(c.connect);
  if (c.subscribe !== undefined) s += ',"subscribe":' + subscribeRequestJson(c.subscribe);
  if (c.unsubscribe !== undefined) s += ',"unsubscribe":' + channelOnly(c.unsubscribe.channel);
  if (c.publish !== undefined) s += ',"publish":' + publishRequestJson(c.publish);
  if (c.presence !== undefined) s += ',"presence":' + channelOnly(c.presence.channel);
  if (c.presence_stats !== undefined) s += ',"presence_stats":' + channelOnly(c.presence_stats.channel);
  if (c.history !== undefined) s += ',"history":' + historyRequestJson(c.history);
  if (c.ping !== undefined) s += ',"ping":{}';
  if (c.send !== undefined) s += ',"send":' + closeObject(bytesField('data', c.send.data));
  if (c.rpc !== undefined) {
    s += ',"rpc":' + closeObject(bytesField('data', c.rpc.data) + (c.rpc.method ? ',"method":' + quote(c.rpc.method) : ''));
  }
  if (c.refresh !== undefined) s += ',"refresh":' + (c.refresh.token ? '{"token":' + quote(c.refresh.token) + '}' : '{}');
  if (c.sub_refresh !== undefined) s += ',"sub_refresh":' + subRefreshRequestJson(c.sub_refresh);
  return closeObject(s);
}
