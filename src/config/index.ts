/**
 * Configuration: one schema for the whole Centrifugo v6 tree (types, defaults, docs,
 * validation), loading from file / env / flags, and printing helpers for the CLI.
 * Config is data: this folder imports nothing else from src.
 */
export { connectionAuthWarning } from './auth-warning.js';
export { ConfigError, ConfigErrors, configProblems } from './config-error.js';
export { configDoc, configDocMarkdown, type ConfigDocEntry } from './config-doc.js';
export { formatDuration, parseDuration } from './duration.js';
export { GoRegexError, compileGoRegex, type GoRegex } from './go-regex.js';
export { ENV_ALIAS_PREFIX, ENV_PREFIX, itemEnvName, parseDotEnv } from './env.js';
export {
  FILE_NOT_FOUND_WARNING,
  deepFreeze,
  describeUnknownKey,
  envVarName,
  inspectConfig,
  loadConfig,
  type ConfigInspection,
  type LoadConfigOptions,
  type LoadedConfig,
  type UnknownKey,
} from './load.js';
export { notSupportedWarnings, SERVED_CONSUMERS } from './not-supported.js';
export { defaultConfigObject, envLines, toPrintable } from './printable.js';
export type { FieldKind, FieldSpec, Fields } from './schema-dsl.js';
export { CONFIG_SCHEMA, fieldAt } from './schema.js';
export type * from './types.js';
export { validateConfig } from './validate.js';
export { MAX_WORKERS, mayRunSeveralWorkers, workerCount } from './workers.js';
