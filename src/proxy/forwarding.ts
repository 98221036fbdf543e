/**
 * What both proxy clients forward to the backend with each call: configured static entries,
 * then the listed client-emulated headers, then the listed transport request headers, later
 * ones replacing earlier ones of the same (lower-cased) name. HTTP sends the result as
 * request headers, GRPC as call metadata.
 */
import type { ProxyClient } from '../core/index.js';

export type ForwardedValue = string | string[];

/** Which names a proxy forwards, and which it never sends whatever the configuration says. */
export interface ForwardingRules {
  /** Sent on every call, lower-cased names. */
  readonly fixed: ReadonlyArray<readonly [string, string]>;
  /** Lower-cased names of emulated headers (connect command `headers`) to forward. */
  readonly emulated: ReadonlySet<string>;
  /** Lower-cased names of transport request headers to forward. */
  readonly transport: ReadonlySet<string>;
  /** Names the client itself manages; forwarding them would corrupt the call. */
  readonly refused: (name: string) => boolean;
}

/** Lower-cases a configured list of names. */
export function nameSet(names: readonly string[] | undefined): ReadonlySet<string> {
  return new Set((names ?? []).map((h) => h.toLowerCase()));
}

/** Lower-cased static entries without refused names. */
export function fixedEntries(
  entries: Readonly<Record<string, string>> | undefined,
  refused: (name: string) => boolean,
): ReadonlyArray<readonly [string, string]> {
  return Object.entries(entries ?? {})
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .filter(([k]) => !refused(k));
}

/** The headers (or metadata) one call carries, in precedence order static < emulated < transport. */
export function forwarded(rules: ForwardingRules, c: ProxyClient): Record<string, ForwardedValue> {
  const out = Object.create(null) as Record<string, ForwardedValue>;
  for (const [k, v] of rules.fixed) out[k] = v;
  if (rules.emulated.size > 0 && c.emulatedHeaders) {
    for (const [k, v] of Object.entries(c.emulatedHeaders)) {
      const name = k.toLowerCase();
      if (rules.emulated.has(name) && !rules.refused(name)) out[name] = v;
    }
  }
  if (rules.transport.size > 0) {
    for (const [k, v] of Object.entries(c.headers)) {
      if (v === undefined) continue;
      const name = k.toLowerCase();
      if (rules.transport.has(name) && !rules.refused(name)) out[name] = v;
    }
  }
  return out;
}

/** Standard base64 of a payload; undefined for none. */
export function base64Of(data: Uint8Array | undefined): string | undefined {
  if (data === undefined || data.length === 0) return undefined;
  return (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('base64');
}
