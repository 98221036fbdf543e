/**
 * Permission and options for a stream subscription: the namespace rules of server.md §3.7
 * applied to a client subscribe request, and the fold of namespace options, overrides and
 * client wishes into a SubscribePlan that kinds/stream.ts installs. Server-side subscriptions
 * skip the permission part and build their plan directly (server-subs.ts).
 */
import { Disconnects, Errors } from '../../protocol/codes.js';
import type { SubscribeRequest } from '../../protocol/types.js';
import { SubscribeTypes } from '../../protocol/subscribe-types.js';
import type { ChannelOptions } from '../channel-options.js';
import { historyEnabled, type ResolvedChannel } from '../channels.js';
import type { SubscriptionOverride } from '../ports.js';
import { compileFilter, FilterValidationError, type TagsPredicate } from '../../protocol/tag-filter.js';
import type { FilterNode } from '../../protocol/types.js';
import { verifiedSubscribeToken, type TokenRefusals } from './tokens.js';
import { callProxy, proxyClientOf } from './proxy-calls.js';
import type { ClientSession } from './client.js';

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
  /**
   * Delta compression: `delta: "fossil"` asked and allowed by the namespace's
   * `allowed_delta_types` (subscriptions.md §3.1).
   */
  delta?: boolean;
  /** The request's tags filter `tf`, validated and compiled (§4.1). */
  tagsFilter?: TagsPredicate;
}

/**
 * The checks every new subscription attempt passes before its flow starts (protocol.md §5.2):
 * a known delta type (3501), the name length (107), not subscribed or subscribing already
 * (105), room under the channel limit (106).
 */
export function checkNewSubscription(c: ClientSession, channel: string, req: SubscribeRequest): void {
  if (req.delta && req.delta !== 'fossil') throw Disconnects.badRequest;
  const node = c.node;
  if (Buffer.byteLength(channel) > node.resolver.maxLength) throw Errors.badRequest;
  if (c.subs.has(channel) || c.pending?.has(channel)) throw Errors.alreadySubscribed;
  if (c.subs.size + (c.pending?.size ?? 0) >= node.rules.channelLimit) throw Errors.limitExceeded;
}

/**
 * Reserves `channel` in the session's pending map (counted for 105 and 106 while the subscribe
 * is in flight) and returns the release, which the caller runs whatever happens; the map goes
 * with its last entry.
 */
export function reservePending(c: ClientSession, channel: string): () => void {
  let release!: () => void;
  const pending = (c.pending ??= new Map());
  pending.set(channel, new Promise<void>((r) => (release = r)));
  return () => {
    pending.delete(channel);
    if (pending.size === 0 && c.pending === pending) c.pending = undefined;
    release();
  };
}

/** Runs `fn` with `channel` reserved (reservePending) until it settles. */
export async function withPending<T>(c: ClientSession, channel: string, fn: () => Promise<T>): Promise<T> {
  const release = reservePending(c, channel);
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * The request type against the namespace's `subscription_type` (subscriptions.md §0.2): a
 * shared-poll namespace takes only shared-poll requests (else 107), a shared-poll request
 * needs a shared-poll namespace (else 108); any other mismatch, or a type not implemented
 * yet, → 103.
 */
export function checkTypeMatch(reqType: number, opts: ChannelOptions): void {
  const subType = opts.subscription_type || 'stream';
  if (subType === 'shared_poll') {
    if (reqType !== SubscribeTypes.sharedPoll) throw Errors.badRequest;
    return;
  }
  if (reqType === SubscribeTypes.sharedPoll) throw Errors.notAvailable;
  if (reqType !== SubscribeTypes.stream || subType !== 'stream') throw Errors.permissionDenied;
}

/** The request's tags filter compiled (subscriptions.md §4.1); an invalid one is logged and answers 107. */
function compiledTagsFilter(c: ClientSession, channel: string, tf: FilterNode): TagsPredicate {
  try {
    return compileFilter(tf);
  } catch (err) {
    if (!(err instanceof FilterValidationError)) throw err;
    c.node.faults.log('info', { client: c.id, channel, path: err.path, reason: err.reason }, 'invalid tags filter');
    throw Errors.badRequest;
  }
}

/**
 * Applies the namespace rules of server.md §3.7 to a client subscribe request. `typeCheck`
 * matches the request type with the namespace (map kinds pass their own).
 */
export async function authorizeSubscribe(
  c: ClientSession,
  channel: string,
  req: SubscribeRequest,
  typeCheck: (reqType: number, opts: ChannelOptions) => void = checkTypeMatch,
): Promise<SubscribePlan> {
  const node = c.node;
  const resolver = node.resolver;
  const resolved = resolver.resolve(channel);
  if (!resolved) throw Errors.unknownChannel;
  if (!resolver.validName(channel, resolved)) throw Errors.badRequest;
  // A client-limited channel is a restriction before the whole chain: no handler, proxy or token opens it to another client.
  if (!resolver.clientAllowed(channel, c.id)) throw Errors.permissionDenied;
  const opts = resolved.options;
  typeCheck(req.type ?? SubscribeTypes.stream, opts);
  if (req.tf && !opts.allow_tags_filter) throw Errors.badRequest;
  const tagsFilter = req.tf ? compiledTagsFilter(c, channel, req.tf) : undefined;

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
  const plan = buildPlan(c, resolved, {
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
  if (tagsFilter) plan.tagsFilter = tagsFilter;
  // Delta is negotiated only when the namespace allows fossil; otherwise publications go plain (§3.1).
  if (req.delta === 'fossil' && opts.allowed_delta_types?.includes('fossil')) plan.delta = true;
  return plan;
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

/** What buildPlan folds: the plan's own request fields plus the client's wishes before the namespace rules. */
export interface PlanInput
  extends Pick<SubscribePlan, 'channel' | 'serverSide' | 'override' | 'recover' | 'offset' | 'epoch' | 'flag' | 'expireAt' | 'clientSideRefresh' | 'chanInfo' | 'data'> {
  wantPositioned: boolean;
  wantRecoverable: boolean;
  wantJoinLeave: boolean;
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
  // auto_cache_recover (subscriptions.md §1.7): every subscribe recovers from an empty position,
  // so the newest publication is delivered each time, server-side subscriptions included.
  const autoCacheRecover = recoverable && forceRecovery && opts.force_recovery_mode === 'cache' && !!opts.auto_cache_recover;
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
    recover: input.recover || autoCacheRecover,
    offset: autoCacheRecover ? 0 : input.offset,
    epoch: autoCacheRecover ? '' : input.epoch,
    flag: input.flag,
    expireAt: input.expireAt,
    clientSideRefresh: input.clientSideRefresh,
    chanInfo: input.chanInfo,
    data: input.data,
  };
}

