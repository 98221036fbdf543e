/**
 * Token claims to core credentials. Every claim of the wrong JSON type, and every bad
 * base64, makes the token invalid, as a failed decode does in the reference.
 */
import {
  TokenError,
  type ConnectCredentials,
  type ServerSubOptions,
  type SubscribeCredentials,
  type SubscriptionOverride,
} from '../core/index.js';

/** A decoded JWT payload (a JSON object). */
export type Claims = Record<string, unknown>;

/** An `invalid` TokenError. */
export function invalidToken(message: string, cause?: unknown): TokenError {
  return new TokenError('invalid', message, cause === undefined ? undefined : { cause });
}

/** Checks the JSON types of the registered claims; `null` counts as absent. */
export function checkRegisteredClaims(claims: Claims): void {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const v = claims[name];
    if (v != null && (typeof v !== 'number' || !Number.isFinite(v))) throw invalidToken(`claim ${name} must be a number`);
  }
  for (const name of ['sub', 'iss', 'jti'] as const) {
    const v = claims[name];
    if (v != null && typeof v !== 'string') throw invalidToken(`claim ${name} must be a string`);
  }
  const aud = claims.aud;
  if (aud != null && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) {
    throw invalidToken('claim aud must be a string or an array of strings');
  }
}

/** The `aud` claim as a list (empty when absent). Call after checkRegisteredClaims. */
export function audiences(claims: Claims): string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? (aud as string[]) : [];
}

/**
 * Throws an `expired` TokenError unless `exp` (when present) is after `nowMs` and `nbf`
 * (when present) is before it. Claims are Unix seconds, possibly fractional.
 */
export function checkLifetime(claims: Claims, nowMs: number): void {
  const exp = claims.exp;
  if (typeof exp === 'number' && !(exp * 1000 > nowMs)) throw new TokenError('expired', 'token expired');
  const nbf = claims.nbf;
  if (typeof nbf === 'number' && !(nbf * 1000 < nowMs)) throw new TokenError('expired', 'token not valid yet');
}

/**
 * The user ID: the `sub` claim, or the top-level claim named by `userIdClaim` rendered as a
 * string (numbers and booleans as text, objects as JSON, absent or null as "").
 */
export function userIdFrom(claims: Claims, userIdClaim: string): string {
  const v = userIdClaim === '' ? claims.sub : claims[userIdClaim];
  if (v == null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * Expiry in Unix seconds: `expire_at` when present (0 or negative = never), otherwise the
 * whole seconds of `exp`, otherwise 0.
 */
export function expireAtFrom(claims: Claims): number {
  const expireAt = claims.expire_at;
  if (expireAt != null) {
    if (typeof expireAt !== 'number' || !Number.isSafeInteger(expireAt)) throw invalidToken('claim expire_at must be an integer');
    return expireAt > 0 ? expireAt : 0;
  }
  const exp = claims.exp;
  return typeof exp === 'number' ? Math.floor(exp) : 0;
}

/** Maps the claims of a verified connection token. */
export function connectCredentials(claims: Claims, userIdClaim: string): ConnectCredentials {
  const creds: ConnectCredentials = { userId: userIdFrom(claims, userIdClaim), expireAt: expireAtFrom(claims) };
  const info = bytesFrom(claims, 'info', 'b64info');
  if (info !== undefined) creds.info = info;
  const channels = channelsFrom(claims.channels);
  if (channels !== undefined && channels.length > 0) creds.channels = channels;
  const subs = subsFrom(claims.subs);
  if (subs !== undefined && Object.keys(subs).length > 0) creds.subs = subs;
  if (claims.meta != null) creds.meta = jsonBytes(claims.meta);
  return creds;
}

/** Maps the claims of a verified subscription token; `channel` must be a non-empty string. */
export function subscribeCredentials(claims: Claims, userIdClaim: string): SubscribeCredentials {
  const channel = optionalString(claims, 'channel');
  if (channel === undefined || channel === '') throw invalidToken('subscription token has no channel claim');
  const creds: SubscribeCredentials = { userId: userIdFrom(claims, userIdClaim), channel, expireAt: expireAtFrom(claims) };
  const client = optionalString(claims, 'client');
  if (client !== undefined && client !== '') creds.client = client;
  const info = bytesFrom(claims, 'info', 'b64info');
  if (info !== undefined) creds.info = info;
  const data = bytesFrom(claims, 'data', 'b64data');
  if (data !== undefined) creds.data = data;
  const override = overrideFrom(claims.override);
  if (override !== undefined) creds.override = override;
  return creds;
}

/** Reads a string claim; null counts as absent. */
export function optionalString(claims: Claims, name: string): string | undefined {
  const v = claims[name];
  if (v == null) return undefined;
  if (typeof v !== 'string') throw invalidToken(`claim ${name} must be a string`);
  return v;
}

/** JSON claim `jsonName` as compact JSON bytes, unless the base64 claim `b64Name` is non-empty, which wins. */
function bytesFrom(obj: Claims, jsonName: string, b64Name: string): Uint8Array | undefined {
  const b64 = optionalString(obj, b64Name);
  if (b64 !== undefined && b64 !== '') return decodeStdBase64(b64, b64Name);
  const json = obj[jsonName];
  return json == null ? undefined : jsonBytes(json);
}

const utf8 = new TextEncoder();

function jsonBytes(v: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(v));
}

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64 (line breaks ignored, as Go's decoder does); anything else is invalid. */
function decodeStdBase64(text: string, claim: string): Uint8Array {
  const compact = text.replace(/[\r\n]/g, '');
  if (!STD_BASE64.test(compact)) throw invalidToken(`claim ${claim} is not valid base64`);
  const buf = Buffer.from(compact, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function channelsFrom(v: unknown): string[] | undefined {
  if (v == null) return undefined;
  if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) throw invalidToken('claim channels must be an array of strings');
  return v as string[];
}

function subsFrom(v: unknown): Record<string, ServerSubOptions> | undefined {
  if (v == null) return undefined;
  if (!isRecord(v)) throw invalidToken('claim subs must be an object');
  const subs: Record<string, ServerSubOptions> = {};
  for (const [channel, raw] of Object.entries(v)) {
    if (raw != null && !isRecord(raw)) throw invalidToken(`claim subs.${channel} must be an object`);
    const entry = raw ?? {};
    const opts: ServerSubOptions = {};
    const info = bytesFrom(entry, 'info', 'b64info');
    if (info !== undefined) opts.info = info;
    const data = bytesFrom(entry, 'data', 'b64data');
    if (data !== undefined) opts.data = data;
    const override = overrideFrom(entry.override);
    if (override !== undefined) opts.override = override;
    // defineProperty keeps a channel named "__proto__" an own key instead of a prototype swap.
    Object.defineProperty(subs, channel, { value: opts, enumerable: true, writable: true, configurable: true });
  }
  return subs;
}

const OVERRIDE_KEYS = ['presence', 'join_leave', 'force_push_join_leave', 'force_recovery', 'force_positioning'] as const;

/** `{"presence": {"value": true}, ...}` to `{presence: true, ...}`; absent or null keys stay absent, unknown keys are ignored. */
function overrideFrom(v: unknown): SubscriptionOverride | undefined {
  if (v == null) return undefined;
  if (!isRecord(v)) throw invalidToken('claim override must be an object');
  const out: SubscriptionOverride = {};
  for (const key of OVERRIDE_KEYS) {
    const item = v[key];
    if (item == null) continue;
    if (!isRecord(item)) throw invalidToken(`override.${key} must be an object`);
    const value = item.value;
    if (value != null && typeof value !== 'boolean') throw invalidToken(`override.${key}.value must be a boolean`);
    out[key] = value === true;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
