/** The upgrade request as a WebSocket session keeps it: headers, and the peer address on demand. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TransportRequest } from '../core/index.js';

/** Request headers that only serve the handshake itself; sessions do not keep them. */
const handshakeHeaders = new Set(['connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions']);
/** Headers whose values most connections share; their values are kept once (see sessionHeaders). */
const sharedValueHeaders = new Set(['host', 'origin', 'user-agent', 'sec-websocket-protocol', 'accept-encoding', 'accept-language', 'cache-control', 'pragma']);
const internedValues = new Map<string, string>();
const maxInterned = 1024;
/** Header sets made only of shared names and values, kept once (frozen) by their content. */
const internedSets = new Map<string, IncomingHttpHeaders>();
const maxInternedSets = 256;

/**
 * The upgrade request's headers as a session keeps them for its lifetime: without the
 * handshake-only ones, and with common values (Host, Origin, User-Agent, ...) shared between
 * connections instead of a fresh string each, since every byte here is paid per connection.
 * When every header kept is such a common one (no cookie, no authorization, ...), connections
 * with the same headers share one frozen object.
 */
export function sessionHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  let shareable = true;
  let key = '';
  for (const name in h) {
    if (handshakeHeaders.has(name)) continue;
    let v = h[name];
    if (typeof v === 'string' && sharedValueHeaders.has(name)) {
      const kept = internedValues.get(v);
      if (kept !== undefined) v = kept;
      else if (internedValues.size < maxInterned && v.length <= 512) internedValues.set(v, v);
      else shareable = false;
      if (shareable) key += name + '\n' + v + '\n';
    } else {
      shareable = false;
    }
    out[name] = v;
  }
  if (!shareable) return out;
  const kept = internedSets.get(key);
  if (kept !== undefined) return kept;
  if (internedSets.size < maxInternedSets) internedSets.set(key, Object.freeze(out));
  return out;
}

/**
 * The upgrade request as the session sees it. The peer address is read from the socket on
 * first use and kept: reading it makes Node cache an address object on the socket, which
 * most connections never need.
 */
export class UpgradeRequest implements TransportRequest {
  readonly headers: IncomingHttpHeaders;
  private socket: Socket | undefined;
  private address: string | undefined;

  constructor(req: IncomingMessage) {
    this.headers = sessionHeaders(req.headers);
    this.socket = req.socket;
  }

  get remoteAddress(): string | undefined {
    if (this.socket !== undefined) {
      this.address = this.socket.remoteAddress;
      this.socket = undefined;
    }
    return this.address;
  }
}
