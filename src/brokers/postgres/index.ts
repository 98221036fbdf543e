/** PostgreSQL brokers and controller: the public face of src/brokers/postgres. */
export { PostgresBroker } from './postgres-broker.js';
export type { PostgresBrokerOptions, StreamMaintenanceResult } from './postgres-broker.js';
export { dropStreamSchema, streamNames, STREAM_SCHEMA_VERSION } from './stream-schema.js';
export type { StreamNames } from './stream-schema.js';
export { PostgresMapBroker } from './postgres-map-broker.js';
export type { PostgresMapBrokerOptions } from './postgres-map-broker.js';
export { MAP_SCHEMA_VERSION, mapNames } from './map-schema.js';
export type { MapNames } from './map-schema.js';
export { PostgresController } from './postgres-controller.js';
export type { PostgresControllerOptions } from './postgres-controller.js';
export { controllerNames, dropControllerSchema, CONTROLLER_SCHEMA_VERSION } from './controller-schema.js';
export type { ControllerNames } from './controller-schema.js';
