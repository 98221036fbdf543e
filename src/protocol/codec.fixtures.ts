/**
 * Test fixtures shared by the codec tests: messages with every field set (JSON-valid payloads,
 * so both codecs can round-trip them). Not part of the public API.
 */
import type { Command, Publication, Push, Reply, SubscribeResult } from './types.js';

/** UTF-8 bytes of a string, as decoders return them (Buffers). */
export const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A publication with every field set, 64-bit extremes included. */
export const fullPublication: Publication = {
  data: b('{"text":"hello"}'),
  info: { user: '42', client: 'c1', conn_info: b('{"name":"Alex"}'), chan_info: b('[1,2]') },
  offset: 2 ** 53 - 1,
  tags: { a: '1', b: '' },
  delta: true,
  time: 1700000000000,
  channel: 'chat:1',
  key: 'k',
  removed: true,
  score: -12345678901,
  epoch: 'e',
  version: 7,
};

/** A subscribe result with every field set. */
export const fullSubscribeResult: SubscribeResult = {
  expires: true,
  ttl: 3600,
  recoverable: true,
  epoch: 'kRtz',
  publications: [fullPublication, { data: b('"x"'), offset: 43 }],
  recovered: true,
  offset: 42,
  positioned: true,
  data: b('{"sub":true}'),
  was_recovering: true,
  delta: true,
  id: 77,
  type: 1,
  phase: 2,
  cursor: 'cur',
  state: [{ key: 'k1', data: b('1'), score: 5 }],
  publish_debounce: 250,
};

/** One reply per result type, plus error, ping and push replies; every field set. */
export const fullReplies: Reply[] = [
  {},
  { id: 1, error: { code: 100, message: 'internal server error', temporary: true } },
  {
    id: 2,
    connect: {
      client: 'c1',
      version: '6.9.1 OSS',
      expires: true,
      ttl: 3598,
      data: b('{"x":1}'),
      subs: { '#42': {}, news: fullSubscribeResult },
      ping: 25,
      pong: true,
      session: 's1',
      node: 'n1',
      time: 1700000000123,
      flag: 1,
    },
  },
  { id: 3, subscribe: fullSubscribeResult },
  { id: 4, subscribe: {} },
  { id: 5, unsubscribe: {} },
  { id: 6, publish: {} },
  { id: 7, presence: { presence: { c1: { user: '42', client: 'c1', conn_info: b('{"n":1}') }, c2: { user: '', client: 'c2' } } } },
  { id: 8, presence: { presence: {} } },
  { id: 9, presence_stats: { num_clients: 3, num_users: 2 } },
  { id: 10, presence_stats: { num_clients: 0, num_users: 0 } },
  { id: 11, history: { publications: [fullPublication], epoch: 'XyZ', offset: 16 } },
  { id: 12, history: { publications: [], epoch: '', offset: 0 } },
  { id: 13, rpc: { data: b('{"name":"Alex"}') } },
  { id: 14, rpc: {} },
  { id: 15, refresh: { client: 'c1', version: 'v', expires: true, ttl: 3600 } },
  { id: 16, sub_refresh: { expires: true, ttl: 60 } },
];

/** One push per payload type; every field set. */
export const fullPushes: Push[] = [
  {},
  { channel: 'chat:1', pub: fullPublication },
  { id: 99, pub: { data: b('{}') } },
  { channel: 'chat:1', join: { info: { user: '42', client: 'c1', conn_info: b('{"a":1}'), chan_info: b('{"b":2}') } } },
  { channel: 'chat:1', leave: { info: { user: '', client: '' } } },
  { channel: 'chat:1', unsubscribe: { code: 2000, reason: 'server unsubscribe' } },
  { message: { data: b('{"hello":"world"}') } },
  { message: {} },
  { channel: 'news', subscribe: { recoverable: true, epoch: 'e', offset: 9, positioned: true, data: b('{"s":1}') } },
  {
    connect: {
      client: 'c1',
      version: '6.9.1 OSS',
      data: b('{"x":1}'),
      subs: { '#42': {}, news: { recoverable: true, offset: 3, epoch: 'e' } },
      expires: true,
      ttl: 10,
      ping: 25,
      pong: true,
      session: 's1',
      node: 'n1',
      time: 1700000000123,
    },
  },
  { disconnect: { code: 3001, reason: 'shutdown', reconnect: true } },
  { refresh: { expires: true, ttl: 30 } },
];

/** One command per request type, plus the pong; every field set. */
export const fullCommands: Command[] = [
  {},
  {
    id: 1,
    connect: {
      token: 'tok',
      data: b('{"c":1}'),
      subs: { news: { recover: true, offset: 5, epoch: 'e' }, empty: {} },
      name: 'js',
      version: '5.7.1',
      headers: { 'x-a': '1', 'x-b': '' },
      flag: 1,
      dict: 'd1',
      profile: 'p',
    },
  },
  {
    id: 2,
    subscribe: {
      channel: 'chat:1',
      token: 't',
      recover: true,
      epoch: 'e',
      offset: 2 ** 40,
      data: b('{"d":1}'),
      positioned: true,
      recoverable: true,
      join_leave: true,
      delta: 'fossil',
      tf: { op: 'and', nodes: [{ key: 'k', cmp: 'eq', val: 'v' }, { op: 'not', nodes: [{ key: 'k2', cmp: 'in', vals: ['a', 'b'] }] }] },
      flag: 3,
      type: 1,
      phase: 2,
      cursor: 'c',
      limit: -1,
      asc: true,
    },
  },
  { id: 3, unsubscribe: { channel: 'chat:1' } },
  { id: 4, publish: { channel: 'chat:1', data: b('{"text":"hi"}'), type: 1, key: 'k', removed: true } },
  { id: 5, presence: { channel: 'chat:1' } },
  { id: 6, presence_stats: { channel: 'chat:1' } },
  { id: 7, history: { channel: 'chat:1', limit: 10, since: { offset: 15, epoch: 'XyZ' }, reverse: true } },
  { id: 8, history: { channel: 'chat:1', since: {} } },
  { id: 9, ping: {} },
  { send: { data: b('{"typing":true}') } },
  { id: 10, rpc: { data: b('{"id":1}'), method: 'getProfile' } },
  { id: 11, rpc: {} },
  { id: 12, refresh: { token: 'new' } },
  { id: 13, sub_refresh: { channel: 'chat:1', token: 't2', type: 1 } },
  { id: 23, sub_refresh: { channel: 'poll:1', type: 1, track: [{ signature: '1:2:ab', items: [{ key: 'k1' }, { key: 'k2', version: 3 }] }, { signature: 's2', items: [{ key: 'k3', version: 9 }] }], untrack: ['k9'] } },
  { id: 24, sub_refresh: { channel: 'poll:1', type: 2, untrack: ['k1', 'k2'] } },
  { id: 14, subscribe: {} },
];
