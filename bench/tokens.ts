// HS256 JWTs for the token server kinds: one connect token per load-client connection
// (sub = u<i>, the same user ids the proxy backend derives from the `sid=u<i>` cookie) and,
// for gyre-token-sub, a subscription token for its channel. Written to a file the C load
// client reads (one line per connection).

import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const b64url = (s: string | Buffer): string => Buffer.from(s).toString('base64url');

/** An HS256 JWT of `claims` signed with `secret`. */
export function hs256(secret: string, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Writes `count` lines "<connect token>[ <subscription token for channel>]" to `file`. */
export function writeTokenFile(file: string, secret: string, count: number, subscribeChannel?: string): void {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const sub = `u${i}`;
    let line = hs256(secret, { sub, exp });
    if (subscribeChannel !== undefined) line += ` ${hs256(secret, { sub, exp, channel: subscribeChannel })}`;
    lines.push(line);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}
