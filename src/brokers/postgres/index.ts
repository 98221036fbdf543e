/** PostgreSQL brokers and controller: the public face of src/brokers/postgres. */
export { PostgresController } from './postgres-controller.js';
export type { PostgresControllerOptions } from './postgres-controller.js';
export { controllerNames, dropControllerSchema, CONTROLLER_SCHEMA_VERSION } from './controller-schema.js';
export type { ControllerNames } from './controller-schema.js';
