/** Public face of the PostgreSQL brokers. */
export { PostgresBroker } from './postgres-broker.js';
export type { PostgresBrokerOptions, StreamMaintenanceResult } from './postgres-broker.js';
export { dropStreamSchema, streamNames, STREAM_SCHEMA_VERSION } from './stream-schema.js';
export type { StreamNames } from './stream-schema.js';
export { PostgresMapBroker } from './postgres-map-broker.js';
export type { PostgresMapBrokerOptions } from './postgres-map-broker.js';
export { MAP_SCHEMA_VERSION, mapNames } from './map-schema.js';
export type { MapNames } from './map-schema.js';
