/**
 * Builds a complete configuration from an in-memory object in the file format (the
 * same keys and value syntax as a JSON config file, durations as strings like "25s").
 * Used when Gyre is embedded as a library. No environment or files are read.
 */
import { ConfigError } from './config-error.js';
import { deepFreeze } from './load.js';
import { CONFIG_SCHEMA } from './schema.js';
import type { GyreConfig } from './types.js';
import { validateConfig } from './validate.js';
import { applyDefaults, coerceObject, isPlainObject } from './values.js';

export interface ObjectConfig {
  config: GyreConfig;
  /** Dotted paths of keys the schema does not know. */
  unknownKeys: string[];
}

/** Throws ConfigError naming the path of the first invalid value. */
export function configFromObject(input: Record<string, unknown> = {}): ObjectConfig {
  if (!isPlainObject(input)) throw new ConfigError('', 'configuration must be an object');
  const unknownKeys: string[] = [];
  const tree = coerceObject(CONFIG_SCHEMA, structuredClone(input), '', { env: {}, unknownKeys });
  const config = applyDefaults(CONFIG_SCHEMA, tree) as unknown as GyreConfig;
  validateConfig(config);
  return { config: deepFreeze(config), unknownKeys };
}
