/**
 * Server-side subscriptions (subscriptions.md §7.2): made by the server rather than a subscribe
 * command, from connect credentials (token `channels`/`subs`, the connect proxy or handler, the
 * personal channel, client `subs` hints) and from the server API `subscribe`. One path for both:
 * no permission check, the channel's options and the caller's override decide everything, the
 * client's wishes (positioned, recoverable, join_leave) play no part. Stream kind only.
 */
import { Disconnect, Disconnects, ProtocolError } from '../../protocol/codes.js';
import type { SubscribeResult } from '../../protocol/types.js';
import type { ResolvedChannel } from '../channels.js';
import type { SubscriptionOverride } from '../ports.js';
import type { ClientSession } from './client.js';
import { buildPlan } from './subscribe-plan.js';
import { finishStream, installStream } from './kinds/stream.js';
import type { StreamSubscription } from './subscription.js';

/** What the server decided about one server-side subscription. */
export interface ServerSubscribeInput {
  channel: string;
  override?: SubscriptionOverride;
  /** Recover from (offset, epoch): a reconnect hint at connect, `recover_since` from the API. */
  recover: boolean;
  offset: number;
  epoch: string;
  /** Unix seconds; 0 = never. Renewed by nobody: past it the connection is disconnected. */
  expireAt: number;
  chanInfo?: Uint8Array;
  data?: Uint8Array;
}

/**
 * Installs a server-side subscription (left subscribing, see installStream) and returns the
 * result to announce. The caller makes it live: after the connect reply (goLive) or with a
 * subscribe push (pushServerSubscription).
 */
export function subscribeServerSide(c: ClientSession, resolved: ResolvedChannel, input: ServerSubscribeInput): Promise<{ result: SubscribeResult; sub: StreamSubscription }> {
  const plan = buildPlan(c, resolved, {
    channel: input.channel,
    serverSide: true,
    override: input.override,
    wantPositioned: false,
    wantRecoverable: false,
    wantJoinLeave: false,
    recover: input.recover,
    offset: input.offset,
    epoch: input.epoch,
    flag: 0,
    expireAt: input.expireAt,
    clientSideRefresh: false,
    chanInfo: input.chanInfo,
    data: input.data,
  });
  return installStream(c, plan);
}

/**
 * A server-side subscription added to a live connection (server API subscribe): skipped when
 * the connection is not connected or already has the channel, disconnected (3505) past the
 * channel limit, otherwise installed, announced with a subscribe
 * push, made live, and its join published (awaited). A Disconnect closes the connection; a
 * ProtocolError (the channel went away meanwhile) drops it silently.
 */
export async function addServerSubscription(c: ClientSession, resolved: ResolvedChannel, input: ServerSubscribeInput): Promise<void> {
  if (c.subs.has(input.channel) || c.state !== 'connected') return;
  if (c.subs.size + (c.pending?.size ?? 0) >= c.node.rules.channelLimit) {
    c.close(Disconnects.channelLimit);
    return;
  }
  try {
    const { result, sub } = await subscribeServerSide(c, resolved, input);
    await pushServerSubscription(c, result, sub);
  } catch (err) {
    if (err instanceof Disconnect) c.close(err);
    else if (!(err instanceof ProtocolError)) throw err;
  }
}

/** Tells the client about a server-side subscription with a subscribe push, makes it live and publishes the join. */
async function pushServerSubscription(c: ClientSession, result: SubscribeResult, sub: StreamSubscription): Promise<void> {
  c.writeReply({
    push: {
      channel: sub.channel,
      subscribe: {
        recoverable: result.recoverable,
        epoch: result.epoch,
        offset: result.offset,
        positioned: result.positioned,
        data: result.data,
      },
    },
  });
  finishStream(c, sub);
  if (sub.emitJoinLeave) {
    c.node.traffic.brokerSent.join++;
    await c.node.broker.publishJoin(sub.channel, sub.info);
  }
}
