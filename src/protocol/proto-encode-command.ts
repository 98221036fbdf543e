/**
 * Protobuf encoding of client-to-server messages (Command and requests, EmulationRequest). The
 * server only decodes these; tests, benchmarks and client-side tools encode them.
 */
import type {
  Command,
  ConnectRequest,
  EmulationRequest,
  FilterNode,
  HistoryRequest,
  PublishRequest,
  SubscribeRequest,
} from './types.js';
import {
  wBool,
  wBytes,
  wI32,
  wI64,
  wMessageMap,
  wMsg,
  wMsgList,
  wString,
  wStringList,
  wStringMap,
  wU32,
  wU64,
  type Writer,
} from './proto-wire.js';

function filterNode(w: Writer, n: FilterNode): void {
  wString(w, 1, n.op);
  wString(w, 2, n.key);
  wString(w, 3, n.cmp);
  wString(w, 4, n.val);
  wStringList(w, 5, n.vals);
  wMsgList(w, 6, n.nodes, filterNode);
}

function subscribeRequest(w: Writer, r: SubscribeRequest): void {
  wString(w, 1, r.channel);
  wString(w, 2, r.token);
  wBool(w, 3, r.recover);
  wString(w, 6, r.epoch);
  wU64(w, 7, r.offset);
  wBytes(w, 8, r.data);
  wBool(w, 9, r.positioned);
  wBool(w, 10, r.recoverable);
  wBool(w, 11, r.join_leave);
  wString(w, 12, r.delta);
  wMsg(w, 13, r.tf, filterNode);
  wI64(w, 14, r.flag);
  wI32(w, 15, r.type);
  wI32(w, 16, r.phase);
  wString(w, 17, r.cursor);
  wI32(w, 18, r.limit);
  wBool(w, 19, r.asc);
}

/** Writes a ConnectRequest's fields (not its tag). */
export function writeConnectRequest(w: Writer, r: ConnectRequest): void {
  wString(w, 1, r.token);
  wBytes(w, 2, r.data);
  wMessageMap(w, 3, r.subs, subscribeRequest);
  wString(w, 4, r.name);
  wString(w, 5, r.version);
  wStringMap(w, 6, r.headers);
  wI64(w, 7, r.flag);
  wString(w, 8, r.dict);
  wString(w, 9, r.profile);
}

function channelOnly(w: Writer, r: { channel?: string }): void {
  wString(w, 1, r.channel);
}

function publishRequest(w: Writer, r: PublishRequest): void {
  wString(w, 1, r.channel);
  wBytes(w, 2, r.data);
  wI32(w, 3, r.type);
  wString(w, 4, r.key);
  wBool(w, 5, r.removed);
}

function historyRequest(w: Writer, r: HistoryRequest): void {
  wString(w, 1, r.channel);
  wI32(w, 7, r.limit);
  wMsg(w, 8, r.since, (w, p) => {
    wU64(w, 1, p.offset);
    wString(w, 2, p.epoch);
  });
  wBool(w, 9, r.reverse);
}

/** Writes a Command's fields (not a length prefix); no fields at all is the pong. */
export function writeCommand(w: Writer, c: Command): void {
  wU32(w, 1, c.id);
  wMsg(w, 4, c.connect, writeConnectRequest);
  wMsg(w, 5, c.subscribe, subscribeRequest);
  wMsg(w, 6, c.unsubscribe, channelOnly);
  wMsg(w, 7, c.publish, publishRequest);
  wMsg(w, 8, c.presence, channelOnly);
  wMsg(w, 9, c.presence_stats, channelOnly);
  wMsg(w, 10, c.history, historyRequest);
  wMsg(w, 11, c.ping, () => {});
  wMsg(w, 12, c.send, (w, s) => wBytes(w, 1, s.data));
  wMsg(w, 13, c.rpc, (w, r) => {
    wBytes(w, 1, r.data);
    wString(w, 2, r.method);
  });
  wMsg(w, 14, c.refresh, (w, r) => wString(w, 1, r.token));
  wMsg(w, 15, c.sub_refresh, (w, r) => {
    wString(w, 1, r.channel);
    wString(w, 2, r.token);
    wI32(w, 3, r.type);
    wMsgList(w, 4, r.track, (w, b) => {
      wString(w, 1, b.signature);
      wMsgList(w, 2, b.items, (w, i) => {
        wString(w, 1, i.key);
        wU64(w, 2, i.version);
      });
    });
    wStringList(w, 5, r.untrack);
  });
}

/** Writes an EmulationRequest's fields: node 1, session 2, data 3 (varint-delimited Commands). */
export function writeEmulationRequest(w: Writer, r: EmulationRequest): void {
  wString(w, 1, r.node);
  wString(w, 2, r.session);
  wBytes(w, 3, r.data);
}
