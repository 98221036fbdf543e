/**
 * Reads the backend's JSON answers (server.md §5.3–§5.8) into the port result types. Field
 * rules follow Centrifugo's decoding: null or absent fields take their zero value, a field of
 * the wrong type fails the whole answer, `b64…` fields win over raw ones when non-empty
 * (except a publish result's `data`, which wins when present), and raw fields are kept byte
 * for byte.
 */
import type { SubscriptionOverride, ServerSubOptions } from '../core/index.js';
import type {
  ConnectProxyResult,
  MapPublishProxyResult,
  MapRemoveProxyResult,
  PublishProxyResult,
  RefreshProxyResult,
  SharedPollRefreshResult,
  SharedPollRefreshResultItem,
  SubRefreshProxyResult,
  SubscribeProxyResult,
} from '../core/index.js';
import { Disconnect, ProtocolError } from '../protocol/codes.js';
import { RawJson, type RawPredicate } from './raw-json.js';

/** The answer does not have the shape of a proxy response. */
export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

type Obj = Record<string, unknown>;

/** The common envelope; `result` is left for the hook to read. */
export interface ProxyEnvelope {
  result?: Obj;
  error?: { code: number; message: string; temporary: boolean };
  disconnect?: { code: number; reason: string };
}

/**
 * Raw fields of proxy results: result.{info,data,meta}, result.subs.<channel>.{info,data}
 * and the shared-poll result's result.items[].{data,prev_data}.
 */
export const rawResultFields: RawPredicate = (path, key) => {
  if (path.length === 2 && path[0] === 'result' && path[1] === 'items') return key === 'data' || key === 'prev_data';
  if (key !== 'info' && key !== 'data' && key !== 'meta') return false;
  if (path.length === 1) return path[0] === 'result';
  return path.length === 3 && key !== 'meta' && path[0] === 'result' && path[1] === 'subs';
};

/** Reads the envelope from a parsed body. A top-level null is an empty answer, as in Go. */
export function readEnvelope(body: unknown): ProxyEnvelope {
  if (body === null) return {};
  const top = obj(body, 'response');
  if (top === undefined) throw new ShapeError('response is not a JSON object');
  const env: ProxyEnvelope = {};
  const result = obj(top.result, 'result');
  if (result !== undefined) env.result = result;
  const error = obj(top.error, 'error');
  if (error !== undefined) {
    env.error = {
      code: int(error.code, 'error.code', 0, 0xffffffff),
      message: str(error.message, 'error.message'),
      temporary: bool(error.temporary, 'error.temporary'),
    };
  }
  const disconnect = obj(top.disconnect, 'disconnect');
  if (disconnect !== undefined) {
    env.disconnect = {
      code: int(disconnect.code, 'disconnect.code', 0, 0xffffffff),
      reason: str(disconnect.reason, 'disconnect.reason'),
    };
  }
  return env;
}

/** Applies an envelope's outcome: disconnect wins over error, error over result (returned). */
export function settle(env: ProxyEnvelope): ProxyEnvelope['result'] {
  if (env.disconnect) throw new Disconnect(env.disconnect.code, env.disconnect.reason);
  if (env.error) throw new ProtocolError(env.error.code, env.error.message, env.error.temporary);
  return env.result;
}

/** Runs a result reader; an answer of the wrong shape becomes the error `fail` builds for it. */
export function readResult<T>(read: () => T, fail: (detail: string) => Error): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ShapeError) throw fail(`invalid response: ${err.message}`);
    throw err;
  }
}

/** Connect result (§5.3); undefined `r` means no credentials. */
export function connectResult(r: Obj): ConnectProxyResult {
  const out: ConnectProxyResult = {
    user: str(r.user, 'result.user'),
    expireAt: int(r.expire_at, 'result.expire_at'),
  };
  const info = b64OrRaw(r.b64info, r.info, 'result.info');
  if (info !== undefined) out.info = info;
  const data = b64OrRaw(r.b64data, r.data, 'result.data');
  if (data !== undefined && data.length > 0) out.data = data;
  const channels = strList(r.channels, 'result.channels');
  if (channels.length > 0) out.channels = channels;
  const subs = obj(r.subs, 'result.subs');
  if (subs !== undefined) {
    const map = Object.create(null) as Record<string, ServerSubOptions>;
    let any = false;
    for (const [channel, v] of Object.entries(subs)) {
      const o = obj(v, `result.subs.${channel}`) ?? {};
      const sub: ServerSubOptions = {};
      const subInfo = b64OrRaw(o.b64info, o.info, `result.subs.${channel}.info`);
      if (subInfo !== undefined) sub.info = subInfo;
      const subData = b64OrRaw(o.b64data, o.data, `result.subs.${channel}.data`);
      if (subData !== undefined) sub.data = subData;
      const override = readOverride(o.override, `result.subs.${channel}.override`);
      if (override !== undefined) sub.override = override;
      map[channel] = sub;
      any = true;
    }
    if (any) out.subs = map;
  }
  const meta = raw(r.meta, 'result.meta');
  if (meta !== undefined) out.meta = meta;
  return out;
}

/** Refresh result (§5.4): no result, or `expired`, means expired. */
export function refreshResult(r: Obj | undefined): RefreshProxyResult {
  if (r === undefined || bool(r.expired, 'result.expired')) return { expired: true, expireAt: 0 };
  const out: RefreshProxyResult = { expired: false, expireAt: int(r.expire_at, 'result.expire_at') };
  const info = b64OrRaw(r.b64info, r.info, 'result.info');
  if (info !== undefined) out.info = info;
  const meta = raw(r.meta, 'result.meta');
  if (meta !== undefined) out.meta = meta;
  return out;
}

/** Sub refresh result (§5.8): as refresh, without meta. */
export function subRefreshResult(r: Obj | undefined): SubRefreshProxyResult {
  const { meta: _ignored, ...out } = refreshResult(r === undefined ? undefined : { ...r, meta: undefined });
  return out;
}

/** Subscribe result (§5.5); an absent result allows with namespace defaults. */
export function subscribeResult(r: Obj | undefined): SubscribeProxyResult {
  if (r === undefined) return { expireAt: 0 };
  const out: SubscribeProxyResult = { expireAt: int(r.expire_at, 'result.expire_at') };
  const info = b64OrRaw(r.b64info, r.info, 'result.info');
  if (info !== undefined) out.info = info;
  const data = b64OrRaw(r.b64data, r.data, 'result.data');
  if (data !== undefined) out.data = data;
  const override = readOverride(r.override, 'result.override');
  if (override !== undefined) out.override = override;
  return out;
}

/** Publish result (§5.6); `data` replaces the payload when present. */
export function publishResult(r: Obj | undefined): PublishProxyResult {
  const out: PublishProxyResult = {};
  if (r === undefined) return out;
  const data = raw(r.data, 'result.data') ?? b64(r.b64data, 'result.b64data');
  if (data !== undefined) out.data = data;
  if (bool(r.skip_history, 'result.skip_history')) out.skipHistory = true;
  return writeOptions(r, out);
}

/** The write options publish and map publish results share: tags, idempotency key, delta, version. */
function writeOptions<T extends PublishProxyResult | MapPublishProxyResult>(r: Obj, out: T): T {
  const tags = strMap(r.tags, 'result.tags');
  if (tags !== undefined) out.tags = tags;
  const key = str(r.idempotency_key, 'result.idempotency_key');
  if (key !== '') out.idempotencyKey = key;
  if (bool(r.delta, 'result.delta')) out.delta = true;
  const version = int(r.version, 'result.version', 0, Number.MAX_SAFE_INTEGER);
  if (version !== 0) out.version = version;
  const epoch = str(r.version_epoch, 'result.version_epoch');
  if (epoch !== '') out.versionEpoch = epoch;
  return out;
}

const KEY_MODES = new Set(['', 'if_new', 'if_exists']);

/**
 * Map publish result (§5.10); an absent result keeps the client's write. `data` replaces the
 * payload when present, else a non-empty `b64data`; `score` and `stream_data` are read past.
 */
export function mapPublishResult(r: Obj | undefined): MapPublishProxyResult {
  const out: MapPublishProxyResult = {};
  if (r === undefined) return out;
  const key = str(r.key, 'result.key');
  if (key !== '') out.key = key;
  const data = raw(r.data, 'result.data') ?? b64(r.b64data, 'result.b64data');
  if (data !== undefined) out.data = data;
  const mode = str(r.key_mode, 'result.key_mode');
  if (!KEY_MODES.has(mode)) throw new ShapeError(`result.key_mode: unknown mode ${JSON.stringify(mode)}`);
  if (mode !== '') out.keyMode = mode as MapPublishProxyResult['keyMode'];
  return writeOptions(r, out);
}

/** Map remove result (§5.10); an absent result keeps the client's removal. */
export function mapRemoveResult(r: Obj | undefined): MapRemoveProxyResult {
  const out: MapRemoveProxyResult = {};
  if (r === undefined) return out;
  const key = str(r.key, 'result.key');
  if (key !== '') out.key = key;
  const tags = strMap(r.tags, 'result.tags');
  if (tags !== undefined) out.tags = tags;
  const idem = str(r.idempotency_key, 'result.idempotency_key');
  if (idem !== '') out.idempotencyKey = idem;
  return out;
}

/** RPC result (§5.7): the data for the client, empty for none. */
export function rpcResult(r: Obj | undefined): Uint8Array {
  if (r === undefined) return new Uint8Array(0);
  return b64OrRaw(r.b64data, r.data, 'result.data') ?? new Uint8Array(0);
}

/**
 * Shared-poll refresh result (server.md §5.11); an absent result is an empty one. Items
 * without a `key` match no tracked key and are skipped; `data` and `prev_data` are kept as
 * the backend sent them.
 */
export function sharedPollRefreshResult(r: Obj | undefined): SharedPollRefreshResult {
  if (r === undefined) return { items: [], epoch: '' };
  const list = r.items;
  const items: SharedPollRefreshResultItem[] = [];
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) throw new ShapeError('result.items: expected an array');
    list.forEach((v, i) => {
      const field = `result.items[${i}]`;
      const o = obj(v, field);
      if (o === undefined) throw new ShapeError(`${field}: expected an object`);
      const key = str(o.key, `${field}.key`);
      if (key === '') return;
      const item: SharedPollRefreshResultItem = {
        key,
        version: int(o.version, `${field}.version`, 0, Number.MAX_SAFE_INTEGER),
        removed: bool(o.removed, `${field}.removed`),
      };
      const data = raw(o.data, `${field}.data`);
      if (data !== undefined) item.data = data;
      const prev = raw(o.prev_data, `${field}.prev_data`);
      if (prev !== undefined && prev.length > 0) item.prevData = prev;
      items.push(item);
    });
  }
  return { items, epoch: str(r.epoch, 'result.epoch') };
}

const OVERRIDE_KEYS = [
  ['presence', 'presence'],
  ['join_leave', 'join_leave'],
  ['force_push_join_leave', 'force_push_join_leave'],
  ['force_recovery', 'force_recovery'],
  ['force_positioning', 'force_positioning'],
] as const;

/** `override` holds `{value: bool}` wrappers; a present wrapper without `value` means false. */
function readOverride(v: unknown, field: string): SubscriptionOverride | undefined {
  const o = obj(v, field);
  if (o === undefined) return undefined;
  const out: SubscriptionOverride = {};
  for (const [wire, key] of OVERRIDE_KEYS) {
    const w = obj(o[wire], `${field}.${wire}`);
    if (w !== undefined) out[key] = bool(w.value, `${field}.${wire}.value`);
  }
  return out;
}

function obj(v: unknown, field: string): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof RawJson) throw new ShapeError(`${field}: expected an object`);
  return v as Obj;
}

function str(v: unknown, field: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new ShapeError(`${field}: expected a string`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new ShapeError(`${field}: expected a boolean`);
  return v;
}

function int(v: unknown, field: string, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ShapeError(`${field}: expected an integer`);
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ShapeError(`${field}: expected an array of strings`);
  return v.map((s, i) => str(s, `${field}[${i}]`));
}

function strMap(v: unknown, field: string): Record<string, string> | undefined {
  const o = obj(v, field);
  if (o === undefined) return undefined;
  const out = Object.create(null) as Record<string, string>;
  let any = false;
  for (const [k, s] of Object.entries(o)) {
    out[k] = str(s, `${field}.${k}`);
    any = true;
  }
  return any ? out : undefined;
}

/** A raw field's bytes as sent (a literal `null` included, as Centrifugo keeps it). */
function raw(v: unknown, field: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof RawJson)) throw new ShapeError(`${field}: expected embedded JSON`);
  return v.bytes;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64, strictly checked; '' or absent is undefined. */
function b64(v: unknown, field: string): Uint8Array | undefined {
  const s = str(v, field);
  if (s === '') return undefined;
  if (!BASE64.test(s)) throw new ShapeError(`${field}: invalid base64`);
  return Buffer.from(s, 'base64');
}

/** `b64<field>` wins when it is a non-empty string; its name is built only when it is there. */
function b64OrRaw(b64v: unknown, rawv: unknown, field: string): Uint8Array | undefined {
  if (b64v !== undefined && b64v !== null) {
    const bytes = b64(b64v, field.replace(/([^.]+)$/, 'b64$1'));
    if (bytes !== undefined) return bytes;
  }
  return raw(rawv, field);
}
