/**
 * Admin session tokens: `<issued-at ms, base36>.<HMAC-SHA256(secret, "gyre-admin:" + issued-at), base64url>`.
 * Valid for 30 days, like Centrifugo's signed admin cookie; only the UI-facing contract
 * (an opaque string sent back as `Authorization: token <t>`) matches the reference.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How long an admin token stays valid. */
export const ADMIN_TOKEN_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

function sign(secret: string, issued: string): string {
  return createHmac('sha256', secret).update(`gyre-admin:${issued}`).digest('base64url');
}

/** A fresh token signed with `secret`. */
export function issueAdminToken(secret: string, nowMs: number = Date.now()): string {
  const issued = nowMs.toString(36);
  return `${issued}.${sign(secret, issued)}`;
}

/** True when `token` was signed with `secret` and is not older than the max age (nor from the future). */
export function verifyAdminToken(secret: string, token: string, nowMs: number = Date.now()): boolean {
  if (secret === '') return false;
  const dot = token.indexOf('.');
  if (dot <= 0) return false;
  const issued = token.slice(0, dot);
  const at = parseInt(issued, 36);
  if (!Number.isFinite(at) || at.toString(36) !== issued) return false;
  if (at > nowMs + 60_000 || nowMs - at > ADMIN_TOKEN_MAX_AGE_MS) return false;
  const want = Buffer.from(sign(secret, issued));
  const got = Buffer.from(token.slice(dot + 1));
  return got.length === want.length && timingSafeEqual(got, want);
}

/** The token of an `Authorization: token <t>` header (scheme case-insensitive), or undefined. */
export function tokenFromAuthorization(header: string | string[] | undefined): string | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  const parts = v.trim().split(/\s+/);
  if (parts.length !== 2 || (parts[0] as string).toLowerCase() !== 'token') return undefined;
  return parts[1];
}
