/**
 * The subscribe command: library checks, Centrifugo's permission rules, then the
 * shared subscription routine that also serves server-side subscriptions.
 */
import { Disconnect, Disconnects, Errors, ProtocolError } from '../../protocol/codes.js';
import type { Command, Publication, Reply, SubscribeRequest, SubscribeResult } from '../../protocol/types.js';
import type { ChannelOptions } from '../channel-options.js';
import { historyEnabled, type ResolvedChannel } from '../channels.js';
import type { BrokerPublication, SubscriptionOverride } from '../ports.js';
import { verifiedSubscribeToken, type TokenRefusals } from './tokens.js';
import { callProxy, proxyClientOf } from './proxy-calls.js';
import type { ClientSession } from './client.js';
import type { StreamSubscription } from './subscription.js';
import { startStreamDelivery, streamBindingFor, subscribeStreamed } from './stream-proxy.js';

/** Everything that decides how one subscription behaves, after permission checks. */
export interface SubscribePlan {
  channel: string;
  serverSide: boolean;
  options: ChannelOptions;
  override?: SubscriptionOverride;
  /** Client asked for these (honoured per namespace rules already folded into the flags below). */
  positioned: boolean;
  recoverable: boolean;
  pushJoinLeave: boolean;
  emitJoinLeave: boolean;
  emitPresence: boolean;
  /** Recovery request from the client. */
  recover: boolean;
  offset: number;
  epoch: string;
  /** SubscribeRequest.flag; bit 2 rejects an unrecoverable position with error 112. */
  flag: number;
  expireAt: number;
  clientSideRefresh: boolean;
  chanInfo?: Uint8Array;
  data?: Uint8Array;
}

export async function handleSubscribe(c: ClientSession, cmd: Command): Promise<Reply | undefined> {
  const req = cmd.subscribe as SubscribeRequest;
  const channel = req.channel ?? '';
  if (channel === '') throw Disconnects.badRequest;
  if (req.delta && req.delta !== 'fossil') throw Disconnects.badRequest;
  const node = c.node;
  if (Buffer.byteLength(channel) > node.resolver.maxLength) throw Errors.badRequest;
  if (c.subs.has(channel) || c.pending?.has(channel)) throw Errors.alreadySubscribed;
  if (c.subs.size + (c.pending?.size ?? 0) >= node.rules.channelLimit) throw Errors.limitExceeded;

  let release!: () => void;
  const pending = (c.pending ??= new Map());
  pending.set(channel, new Promise<void>((r) => (release = r)));
  try {
    const stream = streamBindingFor(c, channel);
    if (stream) {
      const { result, sub } = await subscribeStreamed(c, channel, req, stream);
      c.onAfterReply(() => startStreamDelivery(c, sub));
      return { subscribe: result };
    }
    const plan = await authorizeSubscribe(c, channel, req);
    const { result, sub } = await subscribeCore(c, plan);
    c.onAfterReply(() => {
      c.finishSubscribe(sub);
      if (sub.emitJoinLeave) {
        node.traffic.brokerSent.join++;
        node.broker.publishJoin(channel, sub.info).catch((err: unknown) => node.logger.warn({ channel, err }, 'join publish failed'));
      }
    });
    return { subscribe: result };
  } finally {
    pending.delete(channel);
    if (pending.size === 0 && c.pending === pending) c.pending = undefined;
    release();
  }
}

/** Applies the namespace rules of server.md §3.7 to a client subscribe request. */
async function authorizeSubscribe(c: ClientSession, channel: string, req: SubscribeRequest): Promise<SubscribePlan> {
  const node = c.node;
  const resolver = node.resolver;
  const resolved = resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!resolver.validName(channel, resolved)) throw Errors.badRequest;
  const opts = resolved.options;
  const subType = opts.subscription_type || 'stream';
  const reqType = req.type ?? 0;
  if (reqType === 4 || subType === 'shared_poll') throw Errors.notAvailable;
  if (reqType !== 0 || subType !== 'stream') throw Errors.permissionDenied;
  if (req.tf && !opts.allow_tags_filter) throw Errors.badRequest;

  let allowed = false;
  let chanInfo: Uint8Array | undefined;
  let data: Uint8Array | undefined;
  let expireAt = 0;
  let clientSideRefresh = false;
  let override: SubscriptionOverride | undefined;

  if (node.handlers.onSubscribe) {
    const decision = await node.handlers.onSubscribe({ client: c, channel, data: req.data });
    if (decision) {
      allowed = true;
      chanInfo = decision.info;
      data = decision.data;
      expireAt = decision.expireAt ?? 0;
      override = decision.override;
    }
  }
  if (!allowed) {
    const isPrivate = resolver.isPrivate(channel);
    if (isPrivate && !req.token) throw Errors.permissionDenied;
    if (req.token) {
      const creds = await verifiedSubscribeToken(c, req.token, SUBSCRIBE_REFUSALS);
      if (creds.channel !== channel || creds.userId !== c.userId || (creds.client && creds.client !== c.id)) {
        throw Disconnects.invalidToken;
      }
      allowed = true;
      chanInfo = creds.info;
      data = creds.data;
      expireAt = node.rules.insecure ? 0 : creds.expireAt;
      clientSideRefresh = expireAt > 0;
      override = creds.override;
    } else {
      const userLimited = !!opts.allow_user_limited_channels && resolver.isUserLimited(channel);
      // The namespace's subscribe proxy, when it has one, replaces the allow_subscribe_* rules.
      const proxy = userLimited ? undefined : node.proxies.subscribe(resolved.namespace);
      if (userLimited && resolver.userAllowed(channel, c.userId)) allowed = true;
      else if (proxy) {
        const r = await callProxy(c, 'subscribe', proxy, () => proxy.subscribe({ ...proxyClientOf(c), channel, data: req.data }));
        allowed = true;
        chanInfo = r.info;
        data = r.data;
        expireAt = node.rules.insecure ? 0 : r.expireAt;
        // With a sub_refresh proxy the server refreshes the subscription, not the client.
        clientSideRefresh = expireAt > 0 && node.proxies.subRefresh(resolved.namespace) === undefined;
        override = r.override;
      } else if (!userLimited && opts.allow_subscribe_for_client && (c.userId !== '' || opts.allow_subscribe_for_anonymous)) allowed = true;
      else if (node.rules.insecure) allowed = true;
    }
  }
  if (!allowed) throw Errors.permissionDenied;
  if (expireAt > 0 && expireAt < node.clock.now() / 1000) throw Errors.expired;

  // The subscriber rules count here: the client is about to be subscribed.
  const historyAccess = hasAccess(c, opts.allow_history_for_client, opts.allow_history_for_subscriber, opts.allow_history_for_anonymous, true);
  const presenceAccess = hasAccess(c, opts.allow_presence_for_client, opts.allow_presence_for_subscriber, opts.allow_presence_for_anonymous, true);
  return buildPlan(c, resolved, {
    channel,
    serverSide: false,
    override,
    wantPositioned: !!req.positioned && (!!opts.allow_positioning || historyAccess),
    wantRecoverable: !!req.recoverable && (!!opts.allow_recovery || historyAccess),
    wantJoinLeave: !!req.join_leave && presenceAccess,
    recover: !!req.recover,
    offset: req.offset ?? 0,
    epoch: req.epoch ?? '',
    flag: req.flag ?? 0,
    expireAt,
    clientSideRefresh,
    chanInfo,
    data,
  });
}

/** What subscribe answers for a refused token. */
const SUBSCRIBE_REFUSALS: TokenRefusals = { expired: Errors.tokenExpired, invalid: Errors.permissionDenied, unverifiable: Errors.permissionDenied };

/** Permission pattern shared by presence and history: for client, for subscriber, anonymous extension, insecure. */
export function hasAccess(c: ClientSession, forClient?: boolean, forSubscriber?: boolean, forAnonymous?: boolean, subscribed = false): boolean {
  if (c.node.rules.insecure) return true;
  const userOk = c.userId !== '' || !!forAnonymous;
  if (forClient && userOk) return true;
  if (forSubscriber && subscribed && userOk) return true;
  return false;
}

export interface PlanInput {
  channel: string;
  serverSide: boolean;
  override?: SubscriptionOverride;
  wantPositioned: boolean;
  wantRecoverable: boolean;
  wantJoinLeave: boolean;
  recover: boolean;
  offset: number;
  epoch: string;
  flag: number;
  expireAt: number;
  clientSideRefresh: boolean;
  chanInfo?: Uint8Array;
  data?: Uint8Array;
}

/** Folds namespace options, overrides and client wishes into a subscription plan. */
export function buildPlan(c: ClientSession, resolved: ResolvedChannel, input: PlanInput): SubscribePlan {
  const opts = resolved.options;
  const ov = input.override ?? {};
  const joinLeave = ov.join_leave ?? !!opts.join_leave;
  const forceRecovery = ov.force_recovery ?? !!opts.force_recovery;
  const forcePositioning = ov.force_positioning ?? !!opts.force_positioning;
  const forcePush = ov.force_push_join_leave ?? !!opts.force_push_join_leave;
  const recoverable = historyEnabled(opts) && (forceRecovery || input.wantRecoverable);
  const positioned = historyEnabled(opts) && (recoverable || forcePositioning || input.wantPositioned);
  return {
    channel: input.channel,
    serverSide: input.serverSide,
    options: opts,
    override: input.override,
    positioned,
    recoverable,
    pushJoinLeave: forcePush || (input.wantJoinLeave && joinLeave),
    emitJoinLeave: joinLeave,
    emitPresence: ov.presence ?? !!opts.presence,
    recover: input.recover,
    offset: input.offset,
    epoch: input.epoch,
    flag: input.flag,
    expireAt: input.expireAt,
    clientSideRefresh: input.clientSideRefresh,
    chanInfo: input.chanInfo,
    data: input.data,
  };
}

/** Converts a stored publication into its wire form for a subscribe or history result. */
export function toWirePublication(p: BrokerPublication): Publication {
  const out: Publication = { data: p.data, offset: p.offset || undefined };
  if (p.info) out.info = p.info;
  if (p.tags && Object.keys(p.tags).length > 0) out.tags = p.tags;
  return out;
}

/**
 * Installs a subscription (left in the subscribing state, buffering live publications) and
 * computes its result, including recovery. On failure everything is rolled back. The caller
 * writes the result and then calls client.finishSubscribe(sub).
 */
export async function subscribeCore(c: ClientSession, plan: SubscribePlan): Promise<{ result: SubscribeResult; sub: StreamSubscription }> {
  const node = c.node;
  const channel = plan.channel;
  const sub: StreamSubscription = {
    kind: 'stream',
    channel,
    state: 'subscribing',
    serverSide: plan.serverSide,
    positioned: plan.positioned,
    recoverable: plan.recoverable,
    pushJoinLeave: plan.pushJoinLeave,
    emitJoinLeave: plan.emitJoinLeave,
    emitPresence: plan.emitPresence,
    offset: 0,
    epoch: '',
    buffer: [],
    expireAt: plan.expireAt,
    clientSideRefresh: plan.clientSideRefresh,
    info: c.clientInfo(plan.chanInfo),
  };
  c.subs.set(channel, sub);
  node.hub.addSub(c, sub);
  c.watchSubscription(sub);
  // If the connection closes while we wait, close() has already removed the entry and released
  // everything registered so far; `gone()` detects that so nothing is registered after it.
  const gone = (): boolean => c.subs.get(channel) !== sub;
  let presenceAdded = false;
  try {
    await node.acquireChannel(channel);
    if (gone()) throw Disconnects.connectionClosed;
    if (sub.emitPresence) {
      await node.presenceManager.addPresence(channel, c.id, sub.info);
      presenceAdded = true;
      if (gone()) throw Disconnects.connectionClosed;
    }
    const result: SubscribeResult = {};
    if (plan.expireAt > 0 && plan.clientSideRefresh) {
      result.expires = true;
      result.ttl = Math.max(1, Math.min(Math.ceil(plan.expireAt - node.clock.now() / 1000), 31_536_000));
    }
    if (plan.data && plan.data.length > 0) result.data = plan.data;
    if (plan.positioned) await position(c, plan, sub, result);
    if (gone()) throw Disconnects.connectionClosed;
    if (plan.recover) result.was_recovering = true;
    sub.announced = true;
    node.events.emit('subscribe', {
      channel,
      client: c.id,
      clientName: c.clientName,
      recover: plan.recover && plan.recoverable ? { recovered: !!result.recovered, hasPublications: (result.publications?.length ?? 0) > 0 } : undefined,
    });
    return { result, sub };
  } catch (err) {
    if (!gone()) {
      c.subs.delete(channel);
      node.hub.removeSub(c, channel);
      node.releaseChannel(channel);
      if (presenceAdded) await node.presenceManager.removePresence(channel, c.id, c.userId).catch(() => undefined);
    } else if (presenceAdded) {
      await node.presenceManager.removePresence(channel, c.id, c.userId).catch(() => undefined);
    }
    if (err instanceof ProtocolError || err instanceof Disconnect) throw err;
    node.faults.log('error', { client: c.id, channel, err }, 'subscribe failed');
    throw Disconnects.serverError;
  }
}

/** Positioning and recovery (subscriptions.md §1.4–1.6), merging publications buffered meanwhile. */
async function position(c: ClientSession, plan: SubscribePlan, sub: StreamSubscription, result: SubscribeResult): Promise<void> {
  const node = c.node;
  const metaTtlMs = node.resolver.historyMetaTtlMs(plan.options);
  result.positioned = true;
  if (plan.recoverable) result.recoverable = true;
  let recovered = false;
  let publications: BrokerPublication[] = [];
  let top;
  const cacheMode = plan.options.force_recovery_mode === 'cache';
  if (plan.recoverable && plan.recover) {
    if (cacheMode) {
      const res = await node.broker.history(plan.channel, { filter: { limit: 1, reverse: true }, metaTtlMs });
      top = res.position;
      const same = plan.offset > 0 && plan.offset === top.offset && plan.epoch === top.epoch;
      if (res.publications.length === 0) recovered = same;
      else {
        recovered = true;
        if (!same) publications = res.publications;
      }
    } else {
      const limit = node.rules.recoveryMaxPublicationLimit;
      const res = await node.broker.history(plan.channel, {
        filter: { since: { offset: plan.offset, epoch: plan.epoch }, limit },
        metaTtlMs,
      });
      top = res.position;
      const pubs = res.publications;
      const epochOk = plan.epoch === '' || plan.epoch === top.epoch;
      if (epochOk) {
        if (pubs.length === 0) recovered = top.offset === plan.offset;
        else recovered = pubs[0]!.offset === plan.offset + 1 && pubs[pubs.length - 1]!.offset === top.offset;
      }
      if (recovered) publications = pubs;
      else if (plan.flag & 2) throw Errors.unrecoverablePosition;
    }
  } else {
    const res = await node.broker.history(plan.channel, { filter: { limit: 0 }, metaTtlMs });
    top = res.position;
  }

  // Merge publications that arrived live while the position was being read.
  const buffered = sub.buffer ?? [];
  let topOffset = top.offset;
  let merged = publications;
  if (buffered.length > 0) {
    const byOffset = new Map<number, BrokerPublication>();
    for (const p of publications) byOffset.set(p.offset, p);
    for (const b of buffered) {
      if (b.epoch && b.epoch !== top.epoch) throw Disconnects.insufficientState;
      if (b.pub.offset > topOffset) topOffset = b.pub.offset;
      if (recovered && b.pub.offset > plan.offset && !byOffset.has(b.pub.offset)) byOffset.set(b.pub.offset, b.pub);
    }
    if (recovered) {
      merged = [...byOffset.values()].sort((a, b) => a.offset - b.offset);
      let expect = plan.offset + 1;
      if (cacheMode && merged.length > 0) expect = merged[0]!.offset;
      for (const p of merged) {
        if (p.offset !== expect) throw Disconnects.insufficientState;
        expect++;
      }
    }
  }
  if (cacheMode && merged.length > 1) merged = merged.slice(-1);
  sub.offset = topOffset;
  sub.epoch = top.epoch;
  result.epoch = top.epoch;
  result.offset = topOffset;
  if (recovered) {
    result.recovered = true;
    result.offset = plan.offset;
    if (merged.length > 0) result.publications = merged.map(toWirePublication);
  }
}
