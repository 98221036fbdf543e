/** Checks and result builders shared by several API methods. */
import type { ChannelOptions } from '../../core/index.js';
import type { NodeApi, ApiPublishResult } from '../../core/index.js';
import type { BrokerPublication } from '../../core/index.js';
import type { ClientInfo } from '../../protocol/index.js';
import { ApiErrors } from '../errors.js';
import { isValidJson, isValidJsonObject, rawJsonFromBytes, type RawJson } from '../raw-json.js';

const EMPTY = new Uint8Array(0);

/** Throws 107 when the channel is empty. */
export function requireChannel(channel: string): void {
  if (channel === '') throw ApiErrors.badRequest;
}

/** The channel's namespace options; throws 102 when the namespace is not configured. */
export function channelOptions(node: NodeApi, channel: string): ChannelOptions {
  const opts = node.channelOptions(channel);
  if (!opts) throw ApiErrors.unknownChannel;
  return opts;
}

/** History is kept only when both size and ttl are positive. */
export function historyEnabled(opts: ChannelOptions): boolean {
  return (opts.history_size ?? 0) > 0 && (opts.history_ttl ?? 0) > 0;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard padded base64; throws 107 on anything else. */
export function decodeBase64(s: string): Uint8Array {
  if (!BASE64.test(s)) throw ApiErrors.badRequest;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** Payload bytes from a raw field and its b64 twin: a non-empty b64 value wins. Empty when neither. */
export function payload(rawBytes: Uint8Array | undefined, b64: string): Uint8Array {
  if (b64 !== '') return decodeBase64(b64);
  return rawBytes ?? EMPTY;
}

/** Same as payload, but undefined (not empty) when neither field was given. */
export function optionalPayload(rawBytes: Uint8Array | undefined, b64: string): Uint8Array | undefined {
  if (b64 !== '') return decodeBase64(b64);
  return rawBytes;
}

/**
 * Validates publication data against the namespace `publication_data_format`: `json` must
 * parse, `json_object` must be an object, `binary` accepts anything, the default rejects empty data.
 */
export function validateDataFormat(data: Uint8Array, format: string | undefined): void {
  switch (format ?? '') {
    case 'json':
      if (!isValidJson(data)) throw ApiErrors.badRequest;
      return;
    case 'json_object':
      if (!isValidJsonObject(data)) throw ApiErrors.badRequest;
      return;
    case 'binary':
      return;
    default:
      if (data.length === 0) throw ApiErrors.badRequest;
  }
}

/** `{offset, epoch}` with both omitted when the channel keeps no history. */
export function publishResultJson(res: ApiPublishResult): { offset?: number; epoch?: string } {
  const out: { offset?: number; epoch?: string } = {};
  if (res.offset) out.offset = res.offset;
  if (res.epoch) out.epoch = res.epoch;
  return out;
}

export interface ClientInfoJson {
  user: string;
  client: string;
  conn_info?: RawJson;
  chan_info?: RawJson;
}

/**
 * `{user, client, conn_info?, chan_info?}`: user and client always written; infos embedded raw
 * when they hold JSON (binary infos cannot be represented and are omitted).
 */
export function clientInfoJson(info: ClientInfo): ClientInfoJson {
  const out: ClientInfoJson = { user: info.user, client: info.client };
  const conn = info.conn_info ? rawJsonFromBytes(info.conn_info) : undefined;
  if (conn) out.conn_info = conn;
  const chan = info.chan_info ? rawJsonFromBytes(info.chan_info) : undefined;
  if (chan) out.chan_info = chan;
  return out;
}

export interface PublicationJson {
  data?: RawJson;
  b64data?: string;
  info?: ClientInfoJson;
  offset: number;
  tags?: Record<string, string>;
}

/** A history publication: JSON data embedded raw, binary data as `b64data`; empty data omitted. */
export function publicationJson(pub: BrokerPublication): PublicationJson {
  const out: PublicationJson = {} as PublicationJson;
  if (pub.data.length > 0) {
    const rawData = rawJsonFromBytes(pub.data);
    if (rawData) out.data = rawData;
    else out.b64data = Buffer.from(pub.data.buffer, pub.data.byteOffset, pub.data.byteLength).toString('base64');
  }
  if (pub.info) out.info = clientInfoJson(pub.info);
  out.offset = pub.offset;
  if (pub.tags && Object.keys(pub.tags).length > 0) out.tags = pub.tags;
  return out;
}
