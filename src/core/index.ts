/**
 * The engine's public face: what transports, brokers, the server API, metrics, the server
 * and embedding applications may use. Other folders import core from here only.
 */
export * from './ports.js';
export * from './proxy-ports.js';
export * from './map-broker.js';
export { MapApi, mapNamespaceOf, MAP_SUBSCRIPTION_TYPES, MAX_MAP_KEY_BYTES, type ApiMapPublishRequest, type ApiMapRemoveRequest, type ApiMapReadStateRequest, type ApiMapReadStateResult, type ApiMapReadStreamRequest, type ApiMapReadStreamResult, type ApiMapUpdateResult, type ChannelMapOptions, type NodeMapApi } from './map-api.js';
export * from './node-events.js';
export * from './node-api.js';
export * from './transport.js';
export * from './handlers.js';
export * from './channel-options.js';
export { Node, type NodeDeps, type HistoryRead } from './node.js';
export { resolveClientRules, type ClientRules, type NodeOptions, type ResolvedClientRules, type RpcRules, type SharedPollRules } from './options.js';
export { ChannelResolver, historyEnabled, type ChannelRules, type ResolvedChannel, type ReloadableChannelRules } from './channels.js';
export { TrafficCounters, type BrokerMessageType, type FrameType, type NodeAction, type PublishSuppressReason, type TrafficCell, type TrafficDirection } from './traffic.js';
export { LogLimiter, type LimitedLevel, type LogLimiterOptions } from './log-limiter.js';
export { connectUnidirectional, uniConnectDisconnect, type UniConnectFailure, type UniDisconnectTransform } from './client/uni-connect.js';
export type { ClientSession, ClientState } from './client/client.js';
export { ChannelStateTracker, channelStateEvent, type ChannelStateEvent, type ChannelStateHandler, type ChannelStateStore, type ChannelStateTrackerOptions } from './channel-state.js';
export * from './shared-poll/index.js';
export { holdFlush } from './flush-gate.js';
