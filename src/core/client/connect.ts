/**
 * The connect command (protocol.md §8.3): authenticate, apply limits, register the
 * connection, make server-side subscriptions, answer, then start timers and joins.
 */
import { Disconnects, Errors, Unsubscribes } from '../../protocol/codes.js';
import type { Command, ConnectRequest, ConnectResult, Reply, SubscribeResult } from '../../protocol/types.js';
import type { ServerSubOptions } from '../ports.js';
import { verifiedConnectToken, type TokenRefusals } from './tokens.js';
import { callProxy, proxyClientOf } from './proxy-calls.js';
import type { ClientSession } from './client.js';
import { goLive } from './kinds/stream.js';
import { subscribeServerSide } from './server-subs.js';
import { removeSubscription } from './unsubscribe.js';
import type { StreamSubscription } from './subscription.js';

interface Credentials {
  userId: string;
  expireAt: number;
  info?: Uint8Array;
  data?: Uint8Array;
  /** Server-side subscriptions granted; NO_GRANTS (shared, never written) when none, see grant(). */
  channels: ReadonlyMap<string, ServerSubOptions>;
  meta?: Uint8Array;
  /** How the connection authenticated; client-requested subs are honoured for token and anonymous only. */
  source: 'token' | 'handler' | 'proxy' | 'anonymous' | 'header';
}

/** The grants of credentials that have none: shared by every such connect, so never written to. */
const NO_GRANTS: ReadonlyMap<string, ServerSubOptions> = new Map();
const NO_CHANNELS: readonly string[] = Object.freeze([]);

/** Client names and versions seen, kept once: most connections send one of a few (an SDK's). */
const sharedStrings = new Map<string, string>();

/** `s` itself, or an equal string kept earlier, so sessions do not each hold a copy (bounded). */
function shared(s: string): string {
  if (s === '' || s.length > 64) return s;
  const kept = sharedStrings.get(s);
  if (kept !== undefined) return kept;
  if (sharedStrings.size < 256) sharedStrings.set(s, s);
  return s;
}

/** Adds a server-side subscription to the credentials (a map of their own on the first one). */
function grant(creds: Credentials, channel: string, so: ServerSubOptions): void {
  const channels = creds.channels === NO_GRANTS ? new Map<string, ServerSubOptions>() : (creds.channels as Map<string, ServerSubOptions>);
  channels.set(channel, so);
  creds.channels = channels;
}

/** The connect command: connectClient's answer is the reply (no asynchronous wrapper of its own). */
export function handleConnect(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  return connectClient(c, cmd.connect as ConnectRequest);
}

/** Runs the connect flow; used by bidirectional commands and unidirectional transports alike. */
export async function connectClient(c: ClientSession, req: ConnectRequest): Promise<{ connect: ConnectResult }> {
  const node = c.node;
  const rules = node.rules;
  const creds = anonymousCredentials(c, req) ?? (await authenticate(c, req));
  // The transport may have gone away while credentials were checked: never register a closed session.
  if (c.state === 'closed') throw Disconnects.connectionClosed;
  const nowSec = node.clock.now() / 1000;
  if (creds.expireAt > 0 && creds.expireAt < nowSec) throw Errors.expired;

  // Refresh compares against what the token itself granted, before client and personal additions.
  const tokenChannels = creds.source === 'token' ? [...creds.channels.keys()].sort() : NO_CHANNELS;

  // Channels the client asks for as server-side subscriptions (recovery hints on reconnect).
  if (req.subs && (creds.source === 'token' || creds.source === 'anonymous')) {
    for (const ch of Object.keys(req.subs)) {
      if (creds.channels.has(ch)) continue;
      const resolved = node.resolver.resolve(ch);
      if (!resolved) throw Disconnects.badRequest;
      const o = resolved.options;
      if (node.resolver.isPrivate(ch) || node.proxies.subscribe(resolved.namespace) || !node.resolver.validName(ch, resolved)) continue;
      if (!node.resolver.clientAllowed(ch, c.id)) continue;
      const userLimited = !!o.allow_user_limited_channels && node.resolver.isUserLimited(ch);
      const ok = rules.insecure || (userLimited ? node.resolver.userAllowed(ch, creds.userId) : !!o.allow_subscribe_for_client && (creds.userId !== '' || !!o.allow_subscribe_for_anonymous));
      if (ok) grant(creds, ch, {});
    }
  }
  if (rules.personalChannel.enabled && creds.userId !== '') {
    grant(creds, node.resolver.personalChannel(rules.personalChannel.namespace, creds.userId), {});
  }
  if (creds.channels.size > rules.channelLimit) throw Disconnects.channelLimit;
  if (rules.userConnectionLimit > 0 && creds.userId !== '' && node.hub.userConnectionCount(creds.userId) >= rules.userConnectionLimit) {
    throw Disconnects.connectionLimit;
  }

  c.userId = creds.userId;
  c.clientName = shared(req.name ?? '');
  c.clientVersion = shared(req.version ?? '');
  c.connInfo = creds.info;
  c.meta = creds.meta;
  c.expireAt = creds.expireAt;
  c.tokenChannels = tokenChannels;

  // Credentials from onConnecting or the connect proxy are renewed by the server (onRefresh, the refresh proxy) when it can.
  c.serverRefresh = (creds.source === 'proxy' || creds.source === 'handler') && (node.handlers.onRefresh !== undefined || node.proxies.refresh !== undefined);
  const result: ConnectResult = { client: c.id, version: node.version };
  if (creds.expireAt > 0 && !c.serverRefresh) {
    result.expires = true;
    result.ttl = Math.max(1, Math.min(Math.ceil(creds.expireAt - nowSec), 31_536_000));
  }
  if (creds.data && creds.data.length > 0) result.data = creds.data;
  if (c.pingEnabled()) {
    result.ping = Math.round(rules.pingIntervalMs / 1000);
    if (c.pongExpected()) result.pong = true;
  }
  if (c.transport.emulation || c.transport.unidirectional) result.session = c.sessionId;
  if (c.transport.emulation) result.node = node.id;
  if (rules.includeServerTime) result.time = node.clock.now();

  c.state = 'connected';
  node.traffic.actions.add_client++;
  node.hub.addClient(c);

  const made: StreamSubscription[] = [];
  if (creds.channels.size > 0) {
    const subs: Record<string, SubscribeResult> = {};
    try {
      for (const [channel, so] of creds.channels) {
        const resolved = node.resolver.resolve(channel);
        if (!resolved) throw Disconnects.badRequest;
        const hint = req.subs?.[channel];
        const { result: r, sub } = await subscribeServerSide(c, resolved, {
          channel,
          override: so.override,
          recover: !!hint?.recover,
          offset: hint?.offset ?? 0,
          epoch: hint?.epoch ?? '',
          expireAt: 0,
          chanInfo: so.info,
          data: so.data,
        });
        made.push(sub);
        subs[channel] = r;
      }
    } catch (err) {
      for (const sub of made) await removeSubscription(c, sub, false, Unsubscribes.disconnect);
      node.traffic.actions.remove_client++;
      node.hub.removeClient(c);
      c.state = 'connecting';
      throw err;
    }
    result.subs = subs;
  }

  c.onAfterReply(() => {
    if (rules.personalChannel.enabled && rules.personalChannel.singleConnection && c.userId !== '') {
      // Single-connection mode: the newest connection of a user wins.
      for (const other of [...node.hub.userClients(c.userId)]) {
        if (other !== c) other.close(Disconnects.connectionLimit);
      }
    }
    for (const sub of made) goLive(c, sub);
    c.startTimers();
    c.announced = true;
    node.events.emit('connect', { client: c.id, user: c.userId, transport: c.transportName, name: c.clientName, version: c.clientVersion });
  });
  return { connect: result };
}

/** What connect answers for a refused token. */
const CONNECT_REFUSALS: TokenRefusals = { expired: Errors.tokenExpired, invalid: Disconnects.invalidToken, unverifiable: Disconnects.invalidToken };

/**
 * The credentials of an anonymous connect when no handler, proxy or token takes part (what
 * authenticate() would answer), without the asynchronous call: each one leaves a few hundred
 * bytes of garbage per connect. Undefined when authenticate() has to decide.
 */
function anonymousCredentials(c: ClientSession, req: ConnectRequest): Credentials | undefined {
  const node = c.node;
  if (node.handlers.onConnecting || req.token || node.proxies.connect) return undefined;
  if (node.rules.allowAnonymous || node.rules.insecure) return { userId: '', expireAt: 0, channels: NO_GRANTS, source: 'anonymous' };
  return undefined;
}

async function authenticate(c: ClientSession, req: ConnectRequest): Promise<Credentials> {
  const node = c.node;
  const rules = node.rules;
  if (node.handlers.onConnecting) {
    const r = await node.handlers.onConnecting({
      clientId: c.id,
      transport: c.transportName,
      headers: c.request.headers,
      token: req.token,
      data: req.data,
      name: req.name,
      version: req.version,
    });
    if (r) {
      const channels = new Map<string, ServerSubOptions>();
      if (r.subs) for (const [k, v] of Object.entries(r.subs)) channels.set(k, v);
      else for (const ch of r.channels ?? []) channels.set(ch, {});
      return { userId: r.userId, expireAt: r.expireAt ?? 0, info: r.info, data: r.data, channels, source: 'handler' };
    }
  }
  // The connect proxy is asked only for connections without a token.
  const proxy = node.proxies.connect;
  if (proxy && !req.token) {
    if (req.headers) c.emulatedHeaders = req.headers;
    const subs = req.subs ? Object.keys(req.subs) : undefined;
    const r = await callProxy(c, 'connect', proxy, () =>
      proxy.connect({ ...proxyClientOf(c), data: req.data, name: req.name, version: req.version, channels: subs }),
    );
    if (r) {
      const channels = new Map<string, ServerSubOptions>();
      if (r.subs) for (const [k, v] of Object.entries(r.subs)) channels.set(k, v);
      else for (const ch of r.channels ?? []) channels.set(ch, {});
      for (const ch of channels.keys()) if (!node.resolver.resolve(ch)) throw Errors.unknownChannel;
      return { userId: r.user, expireAt: r.expireAt, info: r.info, data: r.data, meta: r.meta, channels, source: 'proxy' };
    }
  }
  if (req.token) {
    const creds = await verifiedConnectToken(c, req.token, CONNECT_REFUSALS);
    if (creds.userId === '' && rules.disallowAnonymousTokens) throw Disconnects.permissionDenied;
    const channels = new Map<string, ServerSubOptions>();
    if (creds.subs) for (const [k, v] of Object.entries(creds.subs)) channels.set(k, v);
    else for (const ch of creds.channels ?? []) channels.set(ch, {});
    for (const ch of channels.keys()) if (!node.resolver.resolve(ch)) throw Errors.unknownChannel;
    return {
      userId: creds.userId,
      expireAt: rules.insecure ? 0 : creds.expireAt,
      info: creds.info,
      meta: creds.meta,
      channels,
      source: 'token',
    };
  }
  if (rules.allowAnonymous || rules.insecure) return { userId: '', expireAt: 0, channels: NO_GRANTS, source: 'anonymous' };
  if (rules.userIdHttpHeader) {
    const v = c.request.headers[rules.userIdHttpHeader.toLowerCase()];
    const user = Array.isArray(v) ? v[0] : v;
    if (user) return { userId: user, expireAt: 0, channels: NO_GRANTS, source: 'header' };
  }
  node.faults.log('info', { client: c.id }, 'client credentials not found');
  throw Disconnects.badRequest;
}
