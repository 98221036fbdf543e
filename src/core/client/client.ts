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
import { SubscriptionMap } from './subscription-map.js';
import { NO_EXTRAS, SessionExtras } from './session-extras.js';
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
  readonly writer: ConnectionWriter;
  state: ClientState = 'connecting';
  userId = '';
  /** Client name and version from the connect request (metrics labels); common values are shared strings. */
  clientName = '';
  clientVersion = '';
  readonly subs = new SubscriptionMap();
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
  /** Booleans of the session, one bit each (see the flag constants below the class). */
  private flags = 0;
  private afterReply: (() => void)[] | undefined = undefined;
  /**
   * The connection's one keepalive timer: the stale check until the timers start, then the
   * next ping, or the pong check while a ping waits for its pong (see keepaliveDue).
   */
  private keepalive: TimerHandle;
  /** When the outstanding ping was sent (performance.now()), for the ping-pong round trip. */
  private pingSentAt = 0;
  /** State few connections set (see session-extras.ts); NO_EXTRAS until then. */
  private extras: SessionExtras | Readonly<SessionExtras> = NO_EXTRAS;
  /** Traffic counter cells by frame type: records shared by all connections of the transport. */
  private sentCells: Partial<Record<FrameType, TrafficCell>> | undefined;
  private receivedCells: Partial<Record<FrameType, TrafficCell>> | undefined;
  /** The push_publication cell, kept apart: it is the per-delivery hot path. */
  private pubCell: TrafficCell | undefined;

  constructor(
    readonly node: NodeContext,
    readonly transport: Transport,
    request: TransportRequest,
  ) {
    if (request !== (transport as unknown)) this.ownExtras().request = request;
    if (transport.emulation || transport.unidirectional) this.ownExtras().sessionId = randomUUID();
    this.writer = new ConnectionWriter(transport, node.rules.queueMaxSize, this);
    this.keepalive = node.wheel.timer(ClientSession.keepaliveDue, this);
    node.wheel.arm(this.keepalive, node.rules.staleCloseDelayMs);
  }

  // What the transport fixes for the connection's lifetime, read from it rather than kept per session.
  get protocol(): ProtocolType {
    return this.transport.protocol;
  }
  /** How the hub encodes pushes for this connection (bare pushes on unidirectional transports). */
  get framing(): PushFraming {
    return this.transport.unidirectional ? UNI_FRAMING[this.transport.protocol] : this.transport.protocol;
  }
  get codec(): Codec {
    return codecFor(this.transport.protocol);
  }
  get transportName(): string {
    return this.transport.name;
  }
  /** The request that opened the connection (the transport object itself for WebSocket). */
  get request(): TransportRequest {
    return this.extras.request ?? (this.transport as unknown as TransportRequest);
  }
  get sessionId(): string {
    return this.extras.sessionId;
  }

  /** Set when connect failed with an error reply: later commands are a protocol violation. */
  get unusable(): boolean {
    return (this.flags & UNUSABLE) !== 0;
  }
  set unusable(v: boolean) {
    this.setFlag(UNUSABLE, v);
  }
  /** True once the connect event was emitted (balances connection gauges). */
  get announced(): boolean {
    return (this.flags & ANNOUNCED) !== 0;
  }
  set announced(v: boolean) {
    this.setFlag(ANNOUNCED, v);
  }
  /** True when the refresh proxy, not the client, renews the connection at expiry. */
  get serverRefresh(): boolean {
    return (this.flags & SERVER_REFRESH) !== 0;
  }
  set serverRefresh(v: boolean) {
    this.setFlag(SERVER_REFRESH, v);
  }

  private setFlag(flag: number, v: boolean): void {
    this.flags = v ? this.flags | flag : this.flags & ~flag;
  }

  // Rarely set state, in the session's extras (allocated on the first non-default write).
  get connInfo(): Uint8Array | undefined {
    return this.extras.connInfo;
  }
  set connInfo(v: Uint8Array | undefined) {
    if (v !== undefined || this.extras !== NO_EXTRAS) this.ownExtras().connInfo = v;
  }
  get meta(): Uint8Array | undefined {
    return this.extras.meta;
  }
  set meta(v: Uint8Array | undefined) {
    if (v !== undefined || this.extras !== NO_EXTRAS) this.ownExtras().meta = v;
  }
  /** Headers the client sent in its connect command (`ConnectRequest.headers`), for the proxies. */
  get emulatedHeaders(): Readonly<Record<string, string>> | undefined {
    return this.extras.emulatedHeaders;
  }
  set emulatedHeaders(v: Readonly<Record<string, string>> | undefined) {
    if (v !== undefined || this.extras !== NO_EXTRAS) this.ownExtras().emulatedHeaders = v;
  }
  /** Connection expiry, Unix seconds; 0 = never. */
  get expireAt(): number {
    return this.extras.expireAt;
  }
  set expireAt(v: number) {
    if (v !== 0 || this.extras !== NO_EXTRAS) this.ownExtras().expireAt = v;
  }
  /** Channels granted by the connection token, for the refresh comparison. */
  get tokenChannels(): readonly string[] {
    return this.extras.tokenChannels;
  }
  set tokenChannels(v: readonly string[]) {
    if (v.length > 0 || this.extras !== NO_EXTRAS) this.ownExtras().tokenChannels = v.length > 0 ? v : NO_EXTRAS.tokenChannels;
  }

  private ownExtras(): SessionExtras {
    if (this.extras === NO_EXTRAS) this.extras = new SessionExtras();
    return this.extras as SessionExtras;
  }

  // Timer callbacks: shared functions that get the session as argument (no closure per connection).
  private static keepaliveDue(c: ClientSession): void {
    const f = c.flags;
    if ((f & TIMERS_STARTED) === 0) {
      // The stale check: a connection that has not connected (or whose connect failed) goes.
      if (c.state !== 'connected' || c.unusable) c.close(Disconnects.stale);
    } else if ((f & PONG_CHECK) !== 0) {
      c.flags = f & ~PONG_CHECK;
      if ((f & PING_OUTSTANDING) !== 0) c.close(Disconnects.noPong);
      // The pong came: the next ping is due one interval after the last one.
      else if (c.state === 'connected') c.node.wheel.arm(c.keepalive, c.node.rules.pingIntervalMs - c.node.rules.pongTimeoutMs);
    } else {
      c.sendPing();
    }
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
    if (this.queued >= PAUSE_AT_QUEUED_FRAMES && (this.flags & READING_PAUSED) === 0 && this.transport.pauseReading) {
      this.flags |= READING_PAUSED;
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
        if ((this.flags & READING_PAUSED) !== 0) {
          this.flags &= ~READING_PAUSED;
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
    // An index loop: no iterator object per command.
    for (let i = 0; i < requestOrder.length; i++) {
      const k = requestOrder[i]!;
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
    this.flags |= TIMERS_STARTED;
    const rules = this.node.rules;
    // The keepalive timer, created once and re-armed: an idle connection allocates nothing per ping.
    if (this.pingEnabled()) this.node.wheel.arm(this.keepalive, rules.pingIntervalMs / 2 + Math.random() * (rules.pingIntervalMs / 2));
    else this.node.wheel.cancel(this.keepalive);
    for (const sub of this.subs.values()) this.watchSubscription(sub);
    this.scheduleExpiry();
  }

  /**
   * Starts the periodic subscription check (presence refresh, subscription expiry) when
   * `sub` needs it. Connections whose subscriptions need neither have no such timer.
   */
  watchSubscription(sub: Subscription): void {
    if (this.state !== 'connected' || !needsTick(sub)) return;
    const timer = this.extras.presenceTimer;
    if (timer !== undefined && !timer.done) return;
    this.armPresence();
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
      this.flags |= PING_OUTSTANDING;
      this.pingSentAt = performance.now();
      // The keepalive timer checks the pong first, then waits for the next ping (keepaliveDue).
      // A pong timeout of an interval or more never closes: the next ping comes first.
      if (rules.pongTimeoutMs < rules.pingIntervalMs) {
        this.flags |= PONG_CHECK;
        this.node.wheel.arm(this.keepalive, rules.pongTimeoutMs);
        return;
      }
    }
    this.node.wheel.arm(this.keepalive, rules.pingIntervalMs);
  }

  private handlePong(): void {
    // A pong with no ping outstanding is tolerated: the reference is stricter, clients never rely on it.
    if ((this.flags & PING_OUTSTANDING) === 0) return;
    this.flags &= ~PING_OUTSTANDING;
    this.node.events.emit('ping_pong', { transport: this.transportName, durationMs: performance.now() - this.pingSentAt });
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
    const extras = this.extras;
    if (extras.expireTimer !== undefined) {
      this.node.wheel.cancel(extras.expireTimer);
      (extras as SessionExtras).expireTimer = undefined;
    }
    if (this.expireAt <= 0) return;
    // A client refreshing its own token gets a grace delay; the refresh proxy is asked at expiry.
    const serverSide = this.serverRefresh;
    const delay = this.expireAt * 1000 - this.node.clock.now() + (serverSide ? 0 : this.node.rules.expiredCloseDelayMs);
    const at = this.expireAt;
    this.ownExtras().expireTimer = this.node.wheel.schedule(Math.max(0, delay), () => {
      if (this.state !== 'connected' || this.expireAt !== at) return;
      if (serverSide) void refreshConnection(this);
      else this.close(Disconnects.expired);
    });
  }

  private presenceTick(): void {
    if (this.state !== 'connected') return;
    if (!tickSubscriptions(this) || this.state !== 'connected') return;
    this.armPresence();
  }

  private armPresence(): void {
    const extras = this.ownExtras();
    extras.presenceTimer ??= this.node.wheel.timer(ClientSession.presenceDue, this);
    this.node.wheel.arm(extras.presenceTimer, this.node.rules.presenceUpdateIntervalMs);
  }

  // ---- closing ----

  /** Closes the connection with a disconnect; idempotent. */
  close(d: Disconnect): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    const wheel = this.node.wheel;
    wheel.cancel(this.keepalive);
    wheel.cancel(this.extras.expireTimer);
    wheel.cancel(this.extras.presenceTimer);
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
    if (wasConnected) {
      this.node.traffic.actions.remove_client++;
      this.node.hub.removeClient(this);
    }
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

/** Session flags (ClientSession.flags). */
const UNUSABLE = 1;
const ANNOUNCED = 2;
const SERVER_REFRESH = 4;
/** The transport was asked to stop reading (commands are queued past the pause mark). */
const READING_PAUSED = 8;
/** A ping went out and its pong has not come yet. */
const PING_OUTSTANDING = 16;
/** startTimers ran: the keepalive timer serves pings, no longer the stale check. */
const TIMERS_STARTED = 32;
/** The keepalive timer is armed for the pong check of the last ping. */
const PONG_CHECK = 64;

const UNI_FRAMING: Record<ProtocolType, PushFraming> = { json: 'json-uni', protobuf: 'protobuf-uni' };

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
