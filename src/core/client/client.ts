/**
 * One client connection: a state machine (connecting → connected → closed) plus a
 * dispatch table of command handlers, one file per command. Commands of a connection
 * run one at a time in arrival order; connect always completes before the next command.
 * What a subscription does (install, positioning, live delivery, finish, removal) belongs
 * to its kind's module (kinds/); the session only hands live publications to
 * kinds/index.ts and keeps connection state: writer, timers, command queue, counters.
 */
import { randomUUID } from 'node:crypto';
import { CodecError, codecFor, type Codec } from '../../protocol/codec.js';
import { Disconnect, Disconnects, Errors, ProtocolError, Unsubscribes } from '../../protocol/codes.js';
import type { ClientInfo, Command, ProtocolType, Reply } from '../../protocol/types.js';
import type { TimerHandle } from '../timer-wheel.js';
import type { Transport, TransportRequest } from '../transport.js';
import { ConnectionWriter } from '../writer.js';
import type { HubClient, PushFraming } from '../hub.js';
import type { BrokerPublication, StreamPosition } from '../ports.js';
import type { ClientRef } from '../handlers.js';
import type { FrameType, TrafficCell } from '../traffic.js';
import { commandFrameType, replyFrameType } from './frame-types.js';
import type { Subscription } from './subscription.js';
import type { NodeContext } from './context.js';
import { handleConnect } from './connect.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe, removeSubscription } from './unsubscribe.js';
import { opsOf } from './kinds/index.js';
import { deliverStream } from './kinds/stream.js';
import { handlePublish } from './publish.js';
import { handlePresence, handlePresenceStats } from './presence.js';
import { handleHistory } from './history.js';
import { handleRpc } from './rpc.js';
import { handleSend } from './send.js';
import { handleRefresh } from './refresh.js';
import { handleSubRefresh } from './sub-refresh.js';
import { refreshConnection } from './server-refresh.js';
import { needsTick, tickSubscriptions } from './sub-tick.js';

/** A command handler returns the reply fields (without id), or undefined for no reply. */
export type CommandHandler = (client: ClientSession, cmd: Command) => Promise<Reply | undefined>;

type RequestKey = 'connect' | 'subscribe' | 'unsubscribe' | 'publish' | 'presence' | 'presence_stats' | 'history' | 'rpc' | 'send' | 'refresh' | 'sub_refresh';

/** Request fields in the order the reference server checks them. `ping` is deliberately absent. */
const requestOrder: RequestKey[] = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'send', 'refresh', 'sub_refresh'];

const dispatch: Record<RequestKey, CommandHandler> = {
  connect: handleConnect,
  subscribe: handleSubscribe,
  unsubscribe: handleUnsubscribe,
  publish: handlePublish,
  presence: handlePresence,
  presence_stats: handlePresenceStats,
  history: handleHistory,
  rpc: handleRpc,
  send: handleSend,
  refresh: handleRefresh,
  sub_refresh: handleSubRefresh,
};

export type ClientState = 'connecting' | 'connected' | 'closed';

export class ClientSession implements HubClient, ClientRef {
  readonly id = randomUUID();
  readonly sessionId: string;
  readonly protocol: ProtocolType;
  /** How the hub encodes pushes for this connection (bare pushes on unidirectional transports). */
  readonly framing: PushFraming;
  readonly codec: Codec;
  readonly transportName: string;
  readonly writer: ConnectionWriter;
  state: ClientState = 'connecting';
  /** Set when connect failed with an error reply: later commands are a protocol violation. */
  unusable = false;
  userId = '';
  /** Client name and version from the connect request (metrics labels). */
  clientName = '';
  clientVersion = '';
  /** True once the connect event was emitted (balances connection gauges). */
  announced = false;
  connInfo: Uint8Array | undefined;
  meta: Uint8Array | undefined;
  /** Headers the client sent in its connect command (`ConnectRequest.headers`), for the proxies. */
  emulatedHeaders: Readonly<Record<string, string>> | undefined = undefined;
  /** Connection expiry, Unix seconds; 0 = never. */
  expireAt = 0;
  /** True when the refresh proxy, not the client, renews the connection at expiry. */
  serverRefresh = false;
  /** Channels granted by the connection token, for the refresh comparison. */
  tokenChannels: readonly string[] = NO_CHANNELS;
  readonly subs = new Map<string, Subscription>();
  /**
   * Channels with a subscribe command in flight (before the subscription entry exists).
   * Created on the first subscribe: most of a connection's life it would sit empty.
   */
  pending: Map<string, Promise<void>> | undefined = undefined;
  /** The tail of the command chain; back to the shared settled promise whenever it drains. */
  private chain: Promise<void> = SETTLED;
  /** Frames handed to the command chain and not finished yet. */
  private queued = 0;
  /** Bytes of those frames: bounded by maxQueuedCommandBytes. */
  private queuedBytes = 0;
  /** True while the transport was asked to stop reading (commands are queued past the pause mark). */
  private readingPaused = false;
  private afterReply: (() => void)[] | undefined = undefined;
  private staleTimer: TimerHandle | undefined;
  private pingTimer: TimerHandle | undefined;
  private pongTimer: TimerHandle | undefined;
  /** When the outstanding ping was sent (performance.now()), for the ping-pong round trip. */
  private pingSentAt = 0;
  private expireTimer: TimerHandle | undefined;
  private presenceTimer: TimerHandle | undefined;
  private pingOutstanding = false;
  /** Traffic counter cells by frame type: records shared by all connections of the transport. */
  private sentCells: Partial<Record<FrameType, TrafficCell>> | undefined;
  private receivedCells: Partial<Record<FrameType, TrafficCell>> | undefined;
  /** The push_publication cell, kept apart: it is the per-delivery hot path. */
  private pubCell: TrafficCell | undefined;

  constructor(
    readonly node: NodeContext,
    readonly transport: Transport,
    readonly request: TransportRequest,
  ) {
    this.protocol = transport.protocol;
    this.framing = transport.unidirectional ? `${transport.protocol}-uni` : transport.protocol;
    this.codec = codecFor(transport.protocol);
    this.transportName = transport.name;
    this.sessionId = transport.emulation || transport.unidirectional ? randomUUID() : '';
    this.writer = new ConnectionWriter(transport, node.rules.queueMaxSize, this);
    this.staleTimer = node.wheel.timer(ClientSession.staleCheck, this);
    node.wheel.arm(this.staleTimer, node.rules.staleCloseDelayMs);
  }

  // Timer callbacks: shared functions that get the session as argument (no closure per connection).
  private static staleCheck(c: ClientSession): void {
    if (c.state !== 'connected' || c.unusable) c.close(Disconnects.stale);
  }

  private static pingDue(c: ClientSession): void {
    c.sendPing();
  }

  private static pongCheck(c: ClientSession): void {
    if (c.pingOutstanding) c.close(Disconnects.noPong);
  }

  private static presenceDue(c: ClientSession): void {
    c.presenceTick();
  }

  /** Feeds one transport frame (a batch of commands). */
  handleFrame(frame: Uint8Array): void {
    if (this.state === 'closed') return;
    // A pong (one empty command) with no command queued ahead of it needs none of the command
    // machinery: the same effect, without the promises (idle connections answer a ping every 25 s).
    if (this.queued === 0 && this.state === 'connected' && !this.unusable && isPongFrame(this.protocol, frame)) {
      this.countReceived(PONG_COMMANDS, frame.length);
      this.handlePong();
      return;
    }
    let commands: Command[];
    try {
      commands = this.codec.decodeCommands(frame, this.node.maxCommandBytes);
    } catch (err) {
      this.node.faults.log('info', { client: this.id, err: (err as Error).message }, 'malformed frame');
      this.close(Disconnects.badRequest);
      return;
    }
    this.countReceived(commands, frame.length);
    this.enqueueCommands(commands, frame.length);
  }

  /** Runs commands that did not come from a frame (unidirectional connect). */
  runCommand(cmd: Command): Promise<void> {
    this.enqueueCommands([cmd], 0);
    return this.chain;
  }

  /**
   * Appends commands to the chain, which runs them one at a time. A client sending faster
   * than its commands complete is held back: the transport stops reading past a few queued
   * frames, and a transport that cannot stop (emulation requests) is disconnected with
   * 3013 once its queued commands pass the byte bound.
   */
  private enqueueCommands(commands: Command[], bytes: number): void {
    this.queued++;
    this.queuedBytes += bytes;
    if (this.queued >= PAUSE_AT_QUEUED_FRAMES && !this.readingPaused && this.transport.pauseReading) {
      this.readingPaused = true;
      this.transport.pauseReading(true);
    }
    if (this.queuedBytes > maxQueuedCommandBytes(this.node.maxCommandBytes)) {
      this.node.logger.debug({ client: this.id, queuedBytes: this.queuedBytes }, 'too many queued commands');
      this.close(Disconnects.tooManyRequests);
      return;
    }
    this.chain = this.chain.then(() => this.runCommands(commands, bytes));
  }

  private async runCommands(commands: Command[], bytes: number): Promise<void> {
    try {
      for (const cmd of commands) {
        if (this.state === 'closed' || this.unusable) return;
        try {
          await this.runCommand1(cmd);
        } catch (err) {
          this.node.faults.log('error', { client: this.id, err }, 'command handling failed');
          this.close(Disconnects.serverError);
          return;
        }
      }
    } finally {
      this.queuedBytes -= bytes;
      // Drained: drop the reference to the last settled link so an idle connection holds none.
      if (--this.queued === 0) {
        this.chain = SETTLED;
        if (this.readingPaused) {
          this.readingPaused = false;
          if (this.state !== 'closed') this.transport.pauseReading?.(false);
        }
      }
    }
  }

  private async runCommand1(cmd: Command): Promise<void> {
    const id = cmd.id ?? 0;
    if (this.state !== 'connected' && !cmd.connect) {
      this.protocolViolation('command before connect');
      return;
    }
    if (id === 0 && !cmd.send) {
      if (hasRequest(cmd)) {
        this.protocolViolation('command without id');
        return;
      }
      this.handlePong();
      return;
    }
    let key: RequestKey | undefined;
    for (const k of requestOrder) {
      if (cmd[k] !== undefined) {
        key = k;
        break;
      }
    }
    if (!key) {
      this.protocolViolation('unknown command');
      return;
    }
    if (key === 'connect' && this.state === 'connected') {
      this.protocolViolation('client already authenticated');
      return;
    }
    const started = performance.now();
    let reply: Reply | undefined;
    try {
      reply = await dispatch[key](this, cmd);
    } catch (err) {
      if (err instanceof Disconnect) {
        this.node.faults.log('info', { client: this.id, user: this.userId, command: key, code: err.code, reason: err.reason }, 'disconnect on command');
        this.close(err);
        return;
      }
      let perr: ProtocolError;
      if (err instanceof ProtocolError) perr = err;
      else {
        this.node.faults.log('error', { client: this.id, command: key, err }, 'command failed');
        if (key === 'subscribe') {
          this.close(Disconnects.serverError);
          return;
        }
        perr = Errors.internal;
      }
      this.node.logger.debug({ client: this.id, command: key, code: perr.code }, 'command error');
      if (key === 'connect') this.unusable = true;
      if (id > 0) this.writeReply({ id, error: perr.toBody() }, key);
      this.node.events.emit('command', { client: this.id, method: key, durationMs: performance.now() - started, error: perr.code });
      return;
    }
    this.node.events.emit('command', { client: this.id, method: key, durationMs: performance.now() - started });
    if (this.state === 'closed') return;
    if (reply && id > 0) {
      reply.id = id;
      this.writeReply(reply, key);
    }
    this.runAfterReply();
  }

  /** Registers work that must happen right after the current command's reply is queued. */
  onAfterReply(fn: () => void): void {
    (this.afterReply ??= []).push(fn);
  }

  /** Runs the work registered with onAfterReply; call right after the reply (or connect push) is queued. */
  runAfterReply(): void {
    const fns = this.afterReply;
    if (fns === undefined) return;
    this.afterReply = undefined;
    for (const fn of fns) fn();
  }

  private protocolViolation(why: string): void {
    this.node.faults.log('info', { client: this.id, why }, 'bad request from client');
    this.close(Disconnects.badRequest);
  }

  /** Encodes and queues a reply; a payload the protocol cannot carry closes with 3506. `command` names the request answered. */
  writeReply(reply: Reply, command?: FrameType): void {
    if (this.state === 'closed') return;
    let item: Uint8Array;
    try {
      item = this.transport.unidirectional && reply.push ? this.codec.encodePush(reply.push) : this.codec.encodeReply(reply);
    } catch (err) {
      if (err instanceof CodecError) {
        this.close(Disconnects.inappropriateProtocol);
        return;
      }
      throw err;
    }
    if (this.writer.enqueue(item)) this.countSent(command ?? replyFrameType(reply), item.length);
  }

  /** HubClient: queues an already encoded push item. */
  enqueue(item: Uint8Array, frameType: FrameType): void {
    if (this.state !== 'closed' && this.writer.enqueue(item)) this.countSent(frameType, item.length);
  }

  /** Counts one outgoing frame (per-connection cell cache, so a delivery costs two property writes). */
  private countSent(type: FrameType, bytes: number): void {
    const cells = (this.sentCells ??= this.node.traffic.group('sent', this.transportName));
    const cell = (cells[type] ??= this.node.traffic.cell('sent', this.transportName, type));
    cell.count++;
    cell.bytes += bytes;
  }

  /** Counts incoming commands; a frame's bytes are shared between the commands it carried. */
  private countReceived(commands: Command[], frameBytes: number): void {
    const n = commands.length;
    if (n === 0) return;
    const each = Math.floor(frameBytes / n);
    const cells = (this.receivedCells ??= this.node.traffic.group('received', this.transportName));
    for (let i = 0; i < n; i++) {
      const type = commandFrameType(commands[i] as Command);
      const cell = (cells[type] ??= this.node.traffic.cell('received', this.transportName, type));
      cell.count++;
      cell.bytes += i === 0 ? frameBytes - each * (n - 1) : each;
    }
  }

  encodeFailed(): void {
    this.close(Disconnects.inappropriateProtocol);
  }

  /** The writer's queue passed its bound: disconnect as slow (3008). */
  writerOverflow(): void {
    this.close(Disconnects.slow);
  }

  /**
   * HubClient: a live publication for one of this connection's subscriptions, handed to its
   * kind (kinds/index.ts). `item` undefined: filtered out for this subscriber (position only).
   */
  deliverPublication(sub: Subscription, pub: BrokerPublication, position: StreamPosition, item: Uint8Array | undefined): void {
    if (this.state === 'closed') return;
    // The stream kind is called directly (a monomorphic, inlinable call on the hottest path).
    if (sub.kind === 'stream') deliverStream(this, sub, pub, position, item);
    else opsOf(sub).deliver(this, sub, pub, position, item);
  }

  /** Queues an encoded publication push of a live subscription (the per-delivery hot path). */
  enqueuePublication(item: Uint8Array): void {
    if (this.writer.enqueue(item)) {
      const cell = (this.pubCell ??= this.node.traffic.cell('sent', this.transportName, 'push_publication'));
      cell.count++;
      cell.bytes += item.length;
    }
  }

  /** HubClient: publications of a live subscription, in an array shared with other subscribers (never modified). */
  enqueuePublications(items: readonly Uint8Array[], bytes: number): void {
    if (this.writer.enqueueShared(items, bytes)) {
      const cell = (this.pubCell ??= this.node.traffic.cell('sent', this.transportName, 'push_publication'));
      cell.count += items.length;
      cell.bytes += bytes;
    }
  }

  /** Removes a subscription on the server's initiative and tells the client with an unsubscribe push. */
  serverUnsubscribe(channel: string, u: { code: number; reason: string }): void {
    const sub = this.subs.get(channel);
    if (!sub || this.state === 'closed') return;
    this.writeReply({ push: { channel, unsubscribe: { code: u.code, reason: u.reason } } });
    void removeSubscription(this, sub, true, u);
  }

  /** ClientInfo of this connection, with channel info when given. */
  clientInfo(chanInfo?: Uint8Array): ClientInfo {
    const info: ClientInfo = { user: this.userId, client: this.id };
    if (this.connInfo && this.connInfo.length > 0) info.conn_info = this.connInfo;
    if (chanInfo && chanInfo.length > 0) info.chan_info = chanInfo;
    return info;
  }

  /** Sends an asynchronous message push. */
  sendMessage(data: Uint8Array): void {
    this.writeReply({ push: { message: { data } } });
  }

  // ---- timers ----

  /** Starts pings, presence refresh and the expiry check after a successful connect. */
  startTimers(): void {
    this.node.wheel.cancel(this.staleTimer);
    this.staleTimer = undefined;
    const rules = this.node.rules;
    if (this.pingEnabled()) {
      const first = rules.pingIntervalMs / 2 + Math.random() * (rules.pingIntervalMs / 2);
      // Recurring timers are created once and re-armed: an idle connection allocates nothing per ping.
      this.pingTimer = this.node.wheel.timer(ClientSession.pingDue, this);
      this.node.wheel.arm(this.pingTimer, first);
    }
    for (const sub of this.subs.values()) this.watchSubscription(sub);
    this.scheduleExpiry();
  }

  /**
   * Starts the periodic subscription check (presence refresh, subscription expiry) when
   * `sub` needs it. Connections whose subscriptions need neither have no such timer.
   */
  watchSubscription(sub: Subscription): void {
    if (this.state !== 'connected' || !needsTick(sub)) return;
    if (this.presenceTimer !== undefined && !this.presenceTimer.done) return;
    this.presenceTimer ??= this.node.wheel.timer(ClientSession.presenceDue, this);
    this.node.wheel.arm(this.presenceTimer, this.node.rules.presenceUpdateIntervalMs);
  }

  pingEnabled(): boolean {
    return this.transport.appLevelPing && this.node.rules.pingIntervalMs > 0;
  }

  pongExpected(): boolean {
    return this.pingEnabled() && !this.transport.unidirectional && this.node.rules.pongTimeoutMs > 0;
  }

  private sendPing(): void {
    if (this.state !== 'connected') return;
    const rules = this.node.rules;
    if (this.transport.unidirectional) this.writeReply({ push: {} });
    else if (this.writer.enqueue(PING_ITEMS[this.protocol])) this.countSent('server_ping', PING_ITEMS[this.protocol].length);
    if (this.pongExpected()) {
      this.pingOutstanding = true;
      this.pingSentAt = performance.now();
      this.pongTimer ??= this.node.wheel.timer(ClientSession.pongCheck, this);
      this.node.wheel.arm(this.pongTimer, rules.pongTimeoutMs);
    }
    this.pingTimer ??= this.node.wheel.timer(ClientSession.pingDue, this);
    this.node.wheel.arm(this.pingTimer, rules.pingIntervalMs);
  }

  private handlePong(): void {
    // A pong with no ping outstanding is tolerated: the reference is stricter, clients never rely on it.
    if (this.pingOutstanding) this.node.events.emit('ping_pong', { transport: this.transportName, durationMs: performance.now() - this.pingSentAt });
    this.pingOutstanding = false;
    this.node.wheel.cancel(this.pongTimer);
  }

  /**
   * A refresh from the server API: new connection info and, when expireAt > 0, a new expiry
   * the client is told about with a refresh push.
   */
  applyRefresh(info: Uint8Array | undefined, expireAt: number | undefined): void {
    if (this.state !== 'connected') return;
    if (info) this.connInfo = info;
    if (expireAt !== undefined && expireAt > 0) {
      this.expireAt = expireAt;
      this.scheduleExpiry();
      const ttl = Math.max(0, Math.ceil(expireAt - this.node.clock.now() / 1000));
      this.writeReply({ push: { refresh: { expires: true, ttl } } });
    }
  }

  /** (Re)arms the connection expiry check for the current expireAt. */
  scheduleExpiry(): void {
    this.node.wheel.cancel(this.expireTimer);
    this.expireTimer = undefined;
    if (this.expireAt <= 0) return;
    // A client refreshing its own token gets a grace delay; the refresh proxy is asked at expiry.
    const serverSide = this.serverRefresh;
    const delay = this.expireAt * 1000 - this.node.clock.now() + (serverSide ? 0 : this.node.rules.expiredCloseDelayMs);
    const at = this.expireAt;
    this.expireTimer = this.node.wheel.schedule(Math.max(0, delay), () => {
      if (this.state !== 'connected' || this.expireAt !== at) return;
      if (serverSide) void refreshConnection(this);
      else this.close(Disconnects.expired);
    });
  }

  private presenceTick(): void {
    if (this.state !== 'connected') return;
    if (!tickSubscriptions(this) || this.state !== 'connected') return;
    this.presenceTimer ??= this.node.wheel.timer(ClientSession.presenceDue, this);
    this.node.wheel.arm(this.presenceTimer, this.node.rules.presenceUpdateIntervalMs);
  }

  // ---- closing ----

  /** Closes the connection with a disconnect; idempotent. */
  close(d: Disconnect): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    const wheel = this.node.wheel;
    wheel.cancel(this.staleTimer);
    wheel.cancel(this.pingTimer);
    wheel.cancel(this.pongTimer);
    wheel.cancel(this.expireTimer);
    wheel.cancel(this.presenceTimer);
    if (d.code !== 3000 && this.transport.disconnectPush) {
      try {
        const push = { disconnect: { code: d.code, reason: d.reason } };
        const item = this.transport.unidirectional ? this.codec.encodePush(push) : this.codec.encodeReply({ push });
        if (this.writer.enqueue(item)) this.countSent('push_disconnect', item.length);
      } catch {
        // Encoding a disconnect push cannot fail for valid codes; nothing else to send then.
      }
    }
    this.writer.close(d.code === 3000 || d.code === 3008);
    if (d.code !== 3000) {
      try {
        this.transport.close(d);
      } catch (err) {
        this.node.logger.warn({ client: this.id, err }, 'transport close failed');
      }
    }
    if (wasConnected) this.node.hub.removeClient(this);
    for (const sub of [...this.subs.values()]) void removeSubscription(this, sub, true, Unsubscribes.disconnect);
    this.node.clientClosed(this, d, wasConnected);
  }

  /** The transport went away (socket closed, request aborted). */
  transportClosed(): void {
    this.close(Disconnects.connectionClosed);
  }
}

/** A ping (an empty reply) per protocol, encoded once: items are never modified once queued. */
const PING_ITEMS: Record<ProtocolType, Uint8Array> = {
  json: codecFor('json').encodeReply({}),
  protobuf: codecFor('protobuf').encodeReply({}),
};

/** Queued frames at which a transport that can is asked to stop reading until the queue drains. */
const PAUSE_AT_QUEUED_FRAMES = 16;

/**
 * Bytes of commands a connection may have waiting: room for many full-size frames, so only
 * a client that keeps sending past its replies (on a transport that cannot stop reading,
 * or in one huge read) reaches it.
 */
function maxQueuedCommandBytes(maxCommandBytes: number): number {
  return Math.max(1 << 20, 16 * maxCommandBytes);
}

/** The chain tail of a connection with no command in flight. */
const SETTLED: Promise<void> = Promise.resolve();

const NO_CHANNELS: readonly string[] = Object.freeze([]);

/** What a pong frame decodes to: one empty command. */
const PONG_COMMANDS: Command[] = [{}];

/** True for a frame holding exactly one empty command, as clients answer pings: `{}` or one zero byte. */
function isPongFrame(protocol: ProtocolType, frame: Uint8Array): boolean {
  if (protocol === 'json') return frame.length === 2 && frame[0] === 0x7b && frame[1] === 0x7d;
  return frame.length === 1 && frame[0] === 0;
}

function hasRequest(cmd: Command): boolean {
  for (const k of requestOrder) if (cmd[k] !== undefined) return true;
  return cmd.ping !== undefined;
}
