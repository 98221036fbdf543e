/**
 * Track signatures of shared-poll subscriptions (subscriptions.md §6.5): the application
 * backend signs a batch of keys for one user and channel with an HMAC key; a client sends
 * the signature with the batch when it tracks the keys. Verification is pure computation
 * (node:crypto's HMAC/SHA-256), so it lives in core.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Errors, type ProtocolError } from '../../protocol/codes.js';

/** Seconds a signature stays accepted after its `exp`. */
export const TRACK_SIGNATURE_GRACE_SECONDS = 5;

/** The keys of the top-level `shared_poll` config block that concern signatures. */
export interface TrackSignatureKeys {
  /** Current HMAC key; signatures must verify with it (or with the previous key, below). */
  readonly secret: string;
  /** Key being rotated out; "" for none. */
  readonly previousSecret?: string;
  /**
   * Unix seconds: a signature that verifies only with the previous key is refused when its
   * `iat` is after this. 0 = the previous key has no deadline.
   */
  readonly previousValidUntil?: number;
}

/** What a verified signature says. */
export interface VerifiedTrackSignature {
  /** Issued-at, unix seconds (0 when the field is not a number). */
  readonly iat: number;
  /** Expiry, unix seconds; 0 = never. */
  readonly exp: number;
}

/** Splits `iat:exp:hex`; undefined without two `:` separators. */
function split(sig: string): { iat: string; exp: string; hex: string } | undefined {
  const first = sig.indexOf(':');
  if (first < 0) return undefined;
  const second = sig.indexOf(':', first + 1);
  if (second < 0) return undefined;
  return { iat: sig.slice(0, first), exp: sig.slice(first + 1, second), hex: sig.slice(second + 1) };
}

/** A decimal timestamp field; anything that is not a plain integer reads as 0, as Centrifugo does. */
function seconds(s: string): number {
  if (!/^[+-]?\d{1,18}$/.test(s)) return 0;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : 0;
}

/** Lowercase hex SHA-256 of the keys joined by NUL, in the order given. */
export function trackKeysHash(keys: readonly string[]): string {
  return createHash('sha256').update(keys.join('\x00'), 'utf8').digest('hex');
}

/** The HMAC payload: iat, exp (as written in the signature), user, channel and keys hash, NUL-separated. */
function payload(iat: string, exp: string, user: string, channel: string, keys: readonly string[]): string {
  return `${iat}\x00${exp}\x00${user}\x00${channel}\x00${trackKeysHash(keys)}`;
}

/**
 * Mints a signature string for `keys` (what an application backend does); used by tests and
 * tools. `iat`/`exp` are unix seconds, `exp` 0 for none.
 */
export function signTrack(secret: string, opts: { iat: number; exp: number; user: string; channel: string; keys: readonly string[] }): string {
  const iat = String(opts.iat);
  const exp = String(opts.exp);
  const hex = createHmac('sha256', secret).update(payload(iat, exp, opts.user, opts.channel, opts.keys), 'utf8').digest('hex');
  return `${iat}:${exp}:${hex}`;
}

function matches(secret: string, message: string, hex: string): boolean {
  const expected = createHmac('sha256', secret).update(message, 'utf8').digest();
  // A well-formed hex of the right length is compared in constant time; anything else fails.
  if (hex.length !== expected.length * 2 || !/^[0-9a-f]+$/.test(hex)) return false;
  return timingSafeEqual(Buffer.from(hex, 'hex'), expected);
}

/**
 * Verifies track signatures against the current key and, during a rotation, the previous
 * one. Immutable: a config reload builds a new verifier.
 */
export class TrackSignatureVerifier {
  private readonly secret: string;
  private readonly previous: string;
  private readonly previousValidUntil: number;

  constructor(keys: TrackSignatureKeys) {
    this.secret = keys.secret;
    this.previous = keys.previousSecret ?? '';
    this.previousValidUntil = keys.previousValidUntil ?? 0;
  }

  /**
   * Checks one batch's signature for `user` ("" for anonymous) on `channel` over `keys` in
   * the order the client sent them, at `nowSec` (unix seconds). Returns the signature's
   * times, or the client error: 103 when it is malformed, forged, or signed with the
   * previous key after that key's deadline; 109 when it verifies but expired more than
   * the 5-second grace ago. An empty current key refuses everything (103).
   */
  verify(channel: string, user: string, keys: readonly string[], signature: string, nowSec: number): VerifiedTrackSignature | ProtocolError {
    const parts = split(signature);
    if (parts === undefined || this.secret === '') return Errors.permissionDenied;
    const message = payload(parts.iat, parts.exp, user, channel, keys);
    const iat = seconds(parts.iat);
    let ok = matches(this.secret, message, parts.hex);
    if (!ok && this.previous !== '') {
      if (this.previousValidUntil > 0 && iat > this.previousValidUntil) return Errors.permissionDenied;
      ok = matches(this.previous, message, parts.hex);
    }
    if (!ok) return Errors.permissionDenied;
    const exp = seconds(parts.exp);
    if (exp > 0 && exp + TRACK_SIGNATURE_GRACE_SECONDS < nowSec) return Errors.tokenExpired;
    return { iat, exp };
  }
}
