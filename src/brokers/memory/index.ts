/** In-process broker and presence manager (single node; everything is lost on restart). */
export { MemoryBroker, DEFAULT_HISTORY_META_TTL_MS, DEFAULT_IDEMPOTENT_RESULT_TTL_MS, DEFAULT_SWEEP_INTERVAL_MS } from './memory-broker.js';
export type { MemoryBrokerOptions } from './memory-broker.js';
export { MemoryPresenceManager } from './memory-presence.js';
export { MemoryChannelState, type MemoryChannelStateOptions } from './memory-channel-state.js';
export { MemoryMapBroker, DEFAULT_MAP_SWEEP_INTERVAL_MS } from './memory-map-broker.js';
export type { MemoryMapBrokerOptions } from './memory-map-broker.js';
