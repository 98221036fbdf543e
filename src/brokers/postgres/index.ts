export { PostgresMapBroker } from './postgres-map-broker.js';
export type { PostgresMapBrokerOptions } from './postgres-map-broker.js';
export { MAP_SCHEMA_VERSION, mapNames } from './map-schema.js';
export type { MapNames } from './map-schema.js';
