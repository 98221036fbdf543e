/**
 * Protobuf encoding of server-to-client messages (Reply, Push and payloads), field numbers from
 * protocol.md §3–§4. Zero scalars are omitted; every present sub-message is written, as a
 * zero-length field when empty, because clients test for the result's presence.
 */
import type {
  ClientInfo,
  ConnectPush,
  ConnectResult,
  HistoryResult,
  PresenceResult,
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
  wBool,
  wBytes,
  wI32,
  wI64,
  wMessageMap,
  wMsg,
  wMsgList,
  wS64,
  wString,
  wStringMap,
  wU32,
  wU64,
  type Writer,
} from './proto-wire.js';

function clientInfo(w: Writer, c: ClientInfo): void {
  wString(w, 1, c.user);
  wString(w, 2, c.client);
  wBytes(w, 3, c.conn_info);
  wBytes(w, 4, c.chan_info);
}

/** Writes a Publication's fields (not its tag). */
export function writePublication(w: Writer, p: Publication): void {
  wBytes(w, 4, p.data);
  wMsg(w, 5, p.info, clientInfo);
  wU64(w, 6, p.offset);
  wStringMap(w, 7, p.tags);
  wBool(w, 8, p.delta);
  wI64(w, 9, p.time);
  wString(w, 10, p.channel);
  wString(w, 11, p.key);
  wBool(w, 12, p.removed);
  wS64(w, 13, p.score);
  wString(w, 14, p.epoch);
  wU64(w, 16, p.version);
}

function subscribeResult(w: Writer, r: SubscribeResult): void {
  wBool(w, 1, r.expires);
  wU32(w, 2, r.ttl);
  wBool(w, 3, r.recoverable);
  wString(w, 6, r.epoch);
  wMsgList(w, 7, r.publications, writePublication);
  wBool(w, 8, r.recovered);
  wU64(w, 9, r.offset);
  wBool(w, 10, r.positioned);
  wBytes(w, 11, r.data);
  wBool(w, 12, r.was_recovering);
  wBool(w, 13, r.delta);
  wI64(w, 14, r.id);
  wI32(w, 15, r.type);
  wI32(w, 16, r.phase);
  wString(w, 17, r.cursor);
  wMsgList(w, 18, r.state, writePublication);
  wU32(w, 19, r.publish_debounce);
}

function connectResult(w: Writer, r: ConnectResult): void {
  wString(w, 1, r.client);
  wString(w, 2, r.version);
  wBool(w, 3, r.expires);
  wU32(w, 4, r.ttl);
  wBytes(w, 5, r.data);
  wMessageMap(w, 6, r.subs, subscribeResult);
  wU32(w, 7, r.ping);
  wBool(w, 8, r.pong);
  wString(w, 9, r.session);
  wString(w, 10, r.node);
  wI64(w, 11, r.time);
  wI64(w, 12, r.flag);
}

/** Push.connect is ConnectResult renumbered (§4.4), without flag. */
function connectPush(w: Writer, r: ConnectPush): void {
  wString(w, 1, r.client);
  wString(w, 2, r.version);
  wBytes(w, 3, r.data);
  wMessageMap(w, 4, r.subs, subscribeResult);
  wBool(w, 5, r.expires);
  wU32(w, 6, r.ttl);
  wU32(w, 7, r.ping);
  wBool(w, 8, r.pong);
  wString(w, 9, r.session);
  wString(w, 10, r.node);
  wI64(w, 11, r.time);
}

function info(w: Writer, m: { info: ClientInfo }): void {
  wMsg(w, 1, m.info, clientInfo);
}

function subscribePush(w: Writer, p: SubscribePush): void {
  wBool(w, 1, p.recoverable);
  wString(w, 4, p.epoch);
  wU64(w, 5, p.offset);
  wBool(w, 6, p.positioned);
  wBytes(w, 7, p.data);
}

/** Writes a Push's fields (not its tag); no fields at all is the unidirectional ping. */
export function writePush(w: Writer, p: Push): void {
  wI64(w, 1, p.id);
  wString(w, 2, p.channel);
  wMsg(w, 4, p.pub, writePublication);
  wMsg(w, 5, p.join, info);
  wMsg(w, 6, p.leave, info);
  wMsg(w, 7, p.unsubscribe, (w, u) => {
    wU32(w, 2, u.code);
    wString(w, 3, u.reason);
  });
  wMsg(w, 8, p.message, (w, m) => wBytes(w, 1, m.data));
  wMsg(w, 9, p.subscribe, subscribePush);
  wMsg(w, 10, p.connect, connectPush);
  wMsg(w, 11, p.disconnect, (w, d) => {
    wU32(w, 1, d.code);
    wString(w, 2, d.reason);
    wBool(w, 3, d.reconnect);
  });
  wMsg(w, 12, p.refresh, (w, r) => {
    wBool(w, 1, r.expires);
    wU32(w, 2, r.ttl);
  });
}

function error(w: Writer, e: ProtocolErrorBody): void {
  wU32(w, 1, e.code);
  wString(w, 2, e.message);
  wBool(w, 3, e.temporary);
}

function presenceResult(w: Writer, r: PresenceResult): void {
  wMessageMap(w, 1, r.presence, clientInfo);
}

function presenceStats(w: Writer, r: PresenceStatsResult): void {
  wU32(w, 1, r.num_clients);
  wU32(w, 2, r.num_users);
}

function historyResult(w: Writer, r: HistoryResult): void {
  wMsgList(w, 1, r.publications, writePublication);
  wString(w, 2, r.epoch);
  wU64(w, 3, r.offset);
}

function refreshResult(w: Writer, r: RefreshResult): void {
  wString(w, 1, r.client);
  wString(w, 2, r.version);
  wBool(w, 3, r.expires);
  wU32(w, 4, r.ttl);
}

const empty = (): void => {};

/** Writes a Reply's fields (not a length prefix); no fields at all is the ping. */
export function writeReply(w: Writer, r: Reply): void {
  wU32(w, 1, r.id);
  wMsg(w, 2, r.error, error);
  wMsg(w, 4, r.push, writePush);
  wMsg(w, 5, r.connect, connectResult);
  wMsg(w, 6, r.subscribe, subscribeResult);
  wMsg(w, 7, r.unsubscribe, empty);
  wMsg(w, 8, r.publish, empty);
  wMsg(w, 9, r.presence, presenceResult);
  wMsg(w, 10, r.presence_stats, presenceStats);
  wMsg(w, 11, r.history, historyResult);
  wMsg(w, 13, r.rpc, (w, m) => wBytes(w, 1, m.data));
  wMsg(w, 14, r.refresh, refreshResult);
  wMsg(w, 15, r.sub_refresh, (w, m) => {
    wBool(w, 1, m.expires);
    wU32(w, 2, m.ttl);
  });
}
