/**
 * Per-message traffic counters: what connections sent and received, by transport and frame
 * type (bytes included), and what the node exchanged with its broker, by message type. Plain
 * numbers that readers (Prometheus) sample; incrementing one is a property write, so the
 * fan-out path can afford it for every delivery.
 */

/** Frame types, named as Centrifugo's metric labels name them. */
export type FrameType =
  | 'server_ping'
  | 'client_pong'
  | 'push_connect'
  | 'push_subscribe'
  | 'push_publication'
  | 'push_join'
  | 'push_leave'
  | 'push_unsubscribe'
  | 'push_message'
  | 'push_refresh'
  | 'push_disconnect'
  | 'connect'
  | 'subscribe'
  | 'unsubscribe'
  | 'publish'
  | 'presence'
  | 'presence_stats'
  | 'history'
  | 'rpc'
  | 'send'
  | 'refresh'
  | 'sub_refresh';

export type TrafficDirection = 'sent' | 'received';

/** One (direction, transport, frame type) series. */
export interface TrafficCell {
  readonly direction: TrafficDirection;
  readonly transport: string;
  readonly frameType: FrameType;
  count: number;
  bytes: number;
}

/** Node ↔ broker message types. */
export type BrokerMessageType = 'publication' | 'join' | 'leave' | 'control';

const zero = (): Record<BrokerMessageType, number> => ({ publication: 0, join: 0, leave: 0, control: 0 });

/**
 * Node operations counted per call, named as Centrifugo's `action` label names them: client
 * registration, subscription bookkeeping with the (map) broker, presence and history reads and
 * writes by purpose (a recovery read counts as `history` and `history_recover`), and surveys.
 */
export type NodeAction =
  | 'add_client'
  | 'remove_client'
  | 'add_subscription'
  | 'remove_subscription'
  | 'broker_subscribe'
  | 'broker_unsubscribe'
  | 'map_broker_subscribe'
  | 'map_broker_unsubscribe'
  | 'add_presence'
  | 'remove_presence'
  | 'presence'
  | 'presence_stats'
  | 'history'
  | 'history_recover'
  | 'history_recover_cache'
  | 'history_stream_top'
  | 'history_remove'
  | 'survey';

const NODE_ACTIONS: readonly NodeAction[] = [
  'add_client',
  'remove_client',
  'add_subscription',
  'remove_subscription',
  'broker_subscribe',
  'broker_unsubscribe',
  'map_broker_subscribe',
  'map_broker_unsubscribe',
  'add_presence',
  'remove_presence',
  'presence',
  'presence_stats',
  'history',
  'history_recover',
  'history_recover_cache',
  'history_stream_top',
  'history_remove',
  'survey',
];

/** Why the broker dropped a publish: a repeated idempotency key, or a version not above the last. */
export type PublishSuppressReason = 'idempotency' | 'version';

export class TrafficCounters {
  /** Messages this node handed to the broker. */
  readonly brokerSent = zero();
  /** Messages this node received from the broker. */
  readonly brokerReceived = zero();
  /** Transports accepted (client sessions created) by transport name, connected or not. */
  readonly transportConnects = new Map<string, number>();
  /** Connections refused because the node had `client.connection_limit` connections. */
  connectionLimitRefusals = 0;
  /** Node operations by action (one per call, never per delivery). */
  readonly actions = Object.fromEntries(NODE_ACTIONS.map((a) => [a, 0])) as Record<NodeAction, number>;
  /** Publishes the broker suppressed, by reason. */
  readonly publishSuppressed: Record<PublishSuppressReason, number> = { idempotency: 0, version: 0 };
  private readonly series = new Map<string, TrafficCell>();
  private readonly groups = new Map<string, Partial<Record<FrameType, TrafficCell>>>();

  /**
   * The cells of one direction and transport by frame type, filled in on use by cellOf().
   * One record is shared by every connection of that transport, so a connection holds no
   * counter objects of its own.
   */
  group(direction: TrafficDirection, transport: string): Partial<Record<FrameType, TrafficCell>> {
    const key = `${direction}\n${transport}`;
    let g = this.groups.get(key);
    if (!g) {
      g = {};
      this.groups.set(key, g);
    }
    return g;
  }

  /** The counter cell of one series, created on first use; callers may keep it and increment it. */
  cell(direction: TrafficDirection, transport: string, frameType: FrameType): TrafficCell {
    const key = `${direction}\n${transport}\n${frameType}`;
    let c = this.series.get(key);
    if (!c) {
      c = { direction, transport, frameType, count: 0, bytes: 0 };
      this.series.set(key, c);
    }
    return c;
  }

  /** Counts one accepted transport (a new client session). */
  transportConnected(transport: string): void {
    this.transportConnects.set(transport, (this.transportConnects.get(transport) ?? 0) + 1);
  }

  /** Every series seen so far. */
  cells(): IterableIterator<TrafficCell> {
    return this.series.values();
  }
}
