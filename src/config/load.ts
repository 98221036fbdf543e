import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './config-error.js';
import { ENV_ALIAS_PREFIX, ENV_PREFIX, envTail, isIgnoredEnv, itemEnvName, parseDotEnv } from './env.js';
import type { Fields } from './schema-dsl.js';
import { CONFIG_SCHEMA, fieldAt } from './schema.js';
import type { GyreConfig } from './types.js';
import { validateConfig } from './validate.js';
import {
  applyDefaults,
  coerceFileValue,
  coerceObject,
  isPlainObject,
  joinPath,
  parseEnvValue,
  type CoerceContext,
  type Tree,
} from './values.js';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Config file path (relative to cwd); default `config.json`; `''` = no file at all. */
  configPath?: string;
  /** The path came from `-c/--config` (recorded only: a missing file is never fatal). */
  explicitConfig?: boolean;
  /** Environment to read; default `process.env` (which then also receives `.env` values). */
  env?: NodeJS.ProcessEnv;
  /** Dotted keys explicitly set on the command line; they win over env and file. */
  flags?: Record<string, unknown>;
  /** Directory for the relative config path and `.env`; default `process.cwd()`. */
  cwd?: string;
}

/** Result of {@link loadConfig}. */
export interface LoadedConfig {
  /** Complete, validated, deep-frozen configuration. */
  config: GyreConfig;
  /** Start warnings (missing file, unknown log level, unknown keys in env JSON, ...). */
  warnings: string[];
  /** Dotted paths of file keys the schema does not know (array items as `[i]`). */
  unknownKeys: string[];
  /** `CENTRIFUGO_*` / `GYRE_*` variables that map to no key. */
  unknownEnv: string[];
  /** Whether the config file existed and was read. */
  fileFound: boolean;
  /** Absolute config file path ('' when none was asked for). */
  path: string;
  /** Whether the path came from `-c/--config`. */
  explicitConfig: boolean;
  /** Absolute path of the `.env` file that was loaded, if any. */
  envFile?: string;
  /** Values as given in the file (coerced, defaults not applied) — for `defaultenv --base-non-zero-only`. */
  fileValues: Readonly<Record<string, unknown>>;
}

/** Warning emitted when the config file does not exist. */
export const FILE_NOT_FOUND_WARNING = 'config file not found, continue using environment and flags options';

const LOG_LEVELS = ['none', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function readConfigFile(path: string): Tree {
  const ext = extname(path).toLowerCase();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('', `error reading config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  try {
    if (ext === '.json') parsed = text.trim() === '' ? {} : JSON.parse(text);
    else if (ext === '.yaml' || ext === '.yml') parsed = parseYaml(text, { merge: true });
    else if (ext === '.toml') parsed = parseToml(text);
    else throw new Error(`unsupported config file extension "${ext}" (use .json, .yaml, .yml or .toml)`);
  } catch (err) {
    throw new ConfigError('', `error reading config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) throw new ConfigError('', `error reading config file ${path}: top level must be an object`);
  return parsed;
}

function loadDotEnv(cwd: string, env: Record<string, string | undefined>): string | undefined {
  const file = resolve(cwd, '.env');
  if (!existsSync(file)) return undefined;
  let vars: Record<string, string>;
  try {
    vars = parseDotEnv(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('', `error reading ${file}: ${(err as Error).message}`, { cause: err });
  }
  for (const [k, v] of Object.entries(vars)) if (env[k] === undefined) env[k] = v;
  return file;
}

interface EnvPass {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flagKeys: ReadonlySet<string>;
  readonly known: Set<string>;
  readonly ctx: CoerceContext;
}

function lookup(pass: EnvPass, tail: string): { name: string; value: string } | undefined {
  for (const prefix of [ENV_PREFIX, ENV_ALIAS_PREFIX]) {
    const name = prefix + tail;
    const value = pass.env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

/**
 * Applies env vars to `target` for every key of `fields`. `tail` is the env name of the
 * group (`CLIENT_TOKEN`); `keyPath` the dotted key of the group without item indices (for
 * flag exclusion, '' inside array items); `path` the dotted path with indices (for errors).
 */
function applyEnv(fields: Fields, target: Tree, tail: string, keyPath: string | null, path: string, pass: EnvPass): void {
  for (const [key, spec] of Object.entries(fields)) {
    const varTail = tail === '' ? key.toUpperCase() : `${tail}_${key.toUpperCase()}`;
    const p = joinPath(path, key);
    const kp = keyPath === null ? null : joinPath(keyPath, key);
    if (spec.kind === 'object') {
      const sub = isPlainObject(target[key]) ? (target[key] as Tree) : {};
      applyEnv(spec.fields ?? {}, sub, varTail, kp, p, pass);
      if (Object.keys(sub).length > 0) target[key] = sub;
      continue;
    }
    pass.known.add(ENV_PREFIX + varTail);
    pass.known.add(ENV_ALIAS_PREFIX + varTail);
    if (kp !== null && pass.flagKeys.has(kp)) continue;
    const found = lookup(pass, varTail);
    if (found !== undefined) target[key] = parseEnvValue(spec, found.value, p, found.name, pass.ctx);
    if (spec.kind === 'object[]' && spec.named === true && Array.isArray(target[key])) {
      // Per-item variables: CENTRIFUGO_<ARRAY>_<ITEM NAME>_<KEY>; they never create items.
      (target[key] as unknown[]).forEach((item, i) => {
        if (!isPlainObject(item) || typeof item.name !== 'string' || item.name === '') return;
        applyEnv(spec.fields ?? {}, item, `${varTail}_${itemEnvName(item.name)}`, null, `${p}[${i}]`, pass);
      });
    }
  }
}

function setAt(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  keys.slice(0, -1).forEach((k) => {
    if (!isPlainObject(node[k])) node[k] = {};
    node = node[k] as Tree;
  });
  node[keys[keys.length - 1] ?? ''] = value;
}

/** Freezes a tree and everything under it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/**
 * Loads the configuration: `.env` (not overriding existing env), then the file (JSON, YAML or
 * TOML by extension; missing is only a warning), `CENTRIFUGO_*` / `GYRE_*` env vars, explicit
 * flags, then defaults for every zero value, then validation. Precedence: flag > env > file >
 * default. Throws ConfigError (naming the path) on a malformed file or an invalid value.
 */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  // A caller-given env is copied so that `.env` values never leak into the caller's object.
  const env: Record<string, string | undefined> = opts.env === undefined ? process.env : { ...opts.env };
  const envFile = loadDotEnv(cwd, env);
  const configPath = opts.configPath ?? 'config.json';
  const path = configPath === '' ? '' : resolve(cwd, configPath);
  const warnings: string[] = [];
  const unknownKeys: string[] = [];

  let fileFound = false;
  let fileValues: Tree = {};
  if (path !== '') {
    if (existsSync(path)) {
      fileFound = true;
      fileValues = coerceObject(CONFIG_SCHEMA, readConfigFile(path), '', { env, unknownKeys });
    } else {
      warnings.push(FILE_NOT_FOUND_WARNING);
    }
  }

  const tree = structuredClone(fileValues);
  const flags = opts.flags ?? {};
  for (const key of Object.keys(flags)) {
    const spec = fieldAt(key);
    if (spec === undefined || spec.kind === 'object') throw new ConfigError(key, 'unknown flag key');
  }
  const envUnknown: string[] = [];
  const pass: EnvPass = {
    env,
    flagKeys: new Set(Object.keys(flags)),
    known: new Set(),
    ctx: { env, unknownKeys: envUnknown },
  };
  applyEnv(CONFIG_SCHEMA, tree, '', '', '', pass);
  for (const key of envUnknown) warnings.push(`unknown key in environment JSON value: ${key}`);

  for (const [key, raw] of Object.entries(flags)) {
    if (raw === undefined) continue;
    const spec = fieldAt(key);
    if (spec === undefined) continue;
    const value =
      typeof raw === 'string' && spec.kind !== 'string'
        ? parseEnvValue(spec, raw, key, `flag --${key}`, pass.ctx)
        : coerceFileValue(spec, raw, key, pass.ctx);
    setAt(tree, key, value);
  }

  const complete = applyDefaults(CONFIG_SCHEMA, tree);
  const log = complete.log as Tree;
  const level = String(log.level).toLowerCase();
  if (LOG_LEVELS.includes(level)) log.level = level;
  else {
    warnings.push(`log.level: unknown log level "${String(log.level)}", using info`);
    log.level = 'info';
  }
  const config = complete as unknown as GyreConfig;
  validateConfig(config);

  const unknownEnv = Object.keys(env)
    .filter((k) => (k.startsWith(ENV_PREFIX) || k.startsWith(ENV_ALIAS_PREFIX)) && !pass.known.has(k) && !isIgnoredEnv(k))
    .sort();

  const result: LoadedConfig = {
    config: deepFreeze(config),
    warnings,
    unknownKeys,
    unknownEnv,
    fileFound,
    path,
    explicitConfig: opts.explicitConfig === true,
    fileValues: deepFreeze(fileValues),
  };
  if (envFile !== undefined) result.envFile = envFile;
  return result;
}

/** Env var name (CENTRIFUGO_ form) of a dotted key path. */
export function envVarName(path: string): string {
  return ENV_PREFIX + envTail(path);
}
