/** What a client session needs from its node; the node implements it. */
import type { EventEmitter } from 'node:events';
import type { ChannelResolver } from '../channels.js';
import type { NodeHandlers } from '../handlers.js';
import type { Hub } from '../hub.js';
import type { ResolvedClientRules } from '../options.js';
import type { Broker, Clock, Logger, PresenceManager, PublishOptions, StreamPosition, TokenVerifier } from '../ports.js';
import type { ChannelOptions } from '../channel-options.js';
import type { ApiHistoryResult } from '../node-api.js';
import type { TimerWheel } from '../timer-wheel.js';
import type { LogLimiter } from '../log-limiter.js';
import type { ProxyBindings } from '../proxy-ports.js';
import type { SharedPollNode } from '../shared-poll/node-binding.js';
import type { TrafficCounters } from '../traffic.js';
import type { Disconnect } from '../../protocol/codes.js';
import type { ClientSession } from './client.js';
import type { MapBroker } from '../map-broker.js';

export interface NodeContext {
  readonly id: string;
  readonly version: string;
  readonly rules: ResolvedClientRules;
  readonly resolver: ChannelResolver;
  readonly hub: Hub<ClientSession>;
  readonly broker: Broker;
  readonly presenceManager: PresenceManager;
  readonly tokenVerifier: TokenVerifier | undefined;
  readonly handlers: NodeHandlers;
  /** Which backend hook (proxy) serves connect, subscribe, publish, RPC, ...; consulted after the handlers. */
  readonly proxies: ProxyBindings;
  /** The shared-poll engine and namespace configs (kinds/shared-poll.ts). */
  readonly sharedPoll: SharedPollNode;
  readonly wheel: TimerWheel;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Rate-limited logging for what clients can cause. */
  readonly faults: LogLimiter;
  /** Typed core events (see node-events.ts); metrics and logs subscribe. */
  readonly events: EventEmitter;
  /** Per-message traffic counters (see traffic.ts). */
  readonly traffic: TrafficCounters;
  /** Largest single command accepted inside a frame; 0 = no limit. */
  readonly maxCommandBytes: number;
  readonly rpcPing: { enabled: boolean; method: string };
  /** Registers interest in a channel with the broker (reference-counted per node). */
  acquireChannel(channel: string): Promise<void>;
  releaseChannel(channel: string): void;
  /** Storage of map channels; undefined when the node has none (map subscriptions answer 108). */
  readonly mapBroker: MapBroker | undefined;
  /** Registers interest in a map channel with the map broker (reference-counted per node). */
  acquireMapChannel(channel: string): Promise<void>;
  releaseMapChannel(channel: string): void;
  clientClosed(client: ClientSession, d: Disconnect, wasConnected: boolean): void;
  /** Publishes with the channel's history options; returns the stream position. */
  publishToChannel(
    channel: string,
    data: Uint8Array,
    options: ChannelOptions,
    extra?: Omit<PublishOptions, 'historySize' | 'historyTtlMs' | 'historyMetaTtlMs'> & { skipHistory?: boolean },
  ): Promise<StreamPosition>;
  /** Reads history with client semantics (limit cap, epoch check 112, reverse rule 107). */
  readHistory(
    channel: string,
    options: ChannelOptions,
    r: { limit: number; since?: StreamPosition; reverse?: boolean; maxLimit: number },
  ): Promise<ApiHistoryResult>;
}
