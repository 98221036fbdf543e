import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { ConfigError, throwConfigProblems } from './config-error.js';
import { ENV_ALIAS_PREFIX, ENV_PREFIX, envTail, isIgnoredEnv, itemEnvName, parseDotEnv } from './env.js';
import { scanJson, type TextPosition } from './json-positions.js';
import { unknownKeyHint, v5SwitchTarget } from './key-hints.js';
import type { Fields } from './schema-dsl.js';
import { CONFIG_SCHEMA, fieldAt } from './schema.js';
import type { GyreConfig } from './types.js';
import { configProblemsOf } from './validate.js';
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

/** A file key the schema does not know, with where it is and what was probably meant. */
export interface UnknownKey {
  /** Dotted path, keys lower-cased, array items as `[i]`. */
  readonly path: string;
  /** Line and column in the file (JSON files only). */
  readonly position?: TextPosition;
  /** "did you mean ..." or the v6 place of a Centrifugo v5 key. */
  readonly hint?: string;
}

/** One line about an unknown key: `path (line 3, column 5): did you mean "x"?`. */
export function describeUnknownKey(u: UnknownKey): string {
  const at = u.position === undefined ? '' : ` (line ${u.position.line}, column ${u.position.column})`;
  return `${u.path}${at}${u.hint === undefined ? '' : `: ${u.hint}`}`;
}

/** Result of {@link loadConfig}. */
export interface LoadedConfig {
  /** Complete, validated, deep-frozen configuration. */
  config: GyreConfig;
  /** Start warnings (missing file, unknown log level, unknown keys in env JSON, ...). */
  warnings: string[];
  /** Dotted paths of file keys the schema does not know (array items as `[i]`). */
  unknownKeys: string[];
  /** The same keys with their file position and a hint, for messages. */
  unknownKeyDetails: UnknownKey[];
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

interface ConfigFile {
  readonly tree: Tree;
  /** Key positions by dotted path (JSON files only). */
  readonly positions: ReadonlyMap<string, TextPosition>;
}

function parseJsonFile(path: string, text: string): { parsed: unknown; positions: ReadonlyMap<string, TextPosition> } {
  if (text.trim() === '') return { parsed: {}, positions: new Map() };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const { error } = scanJson(text);
    const detail = error === undefined ? (err as Error).message : `line ${error.line}, column ${error.column}: ${error.message}`;
    throw new ConfigError('', `error reading config file ${path}: invalid JSON at ${detail}`, { cause: err });
  }
  return { parsed, positions: scanJson(text).keys };
}

function readConfigFile(path: string): ConfigFile {
  const ext = extname(path).toLowerCase();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('', `error reading config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let parsed: unknown;
  let positions: ReadonlyMap<string, TextPosition> = new Map();
  if (ext === '.json') ({ parsed, positions } = parseJsonFile(path, text));
  else {
    try {
      if (ext === '.yaml' || ext === '.yml') parsed = parseYaml(text, { merge: true });
      else if (ext === '.toml') parsed = parseToml(text);
      else throw new Error(`unsupported config file extension "${ext}" (use .json, .yaml, .yml or .toml)`);
    } catch (err) {
      throw new ConfigError('', `error reading config file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (parsed === null || parsed === undefined) return { tree: {}, positions };
  if (!isPlainObject(parsed)) throw new ConfigError('', `error reading config file ${path}: top level must be an object`);
  return { tree: parsed, positions };
}

/** The position of `path` in the file, else of the nearest array item holding it. */
function positionOf(positions: ReadonlyMap<string, TextPosition>, path: string): TextPosition | undefined {
  const exact = positions.get(path);
  if (exact !== undefined) return exact;
  for (let p = path; ; ) {
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) return undefined;
    p = p.slice(0, cut);
    const item = p.endsWith(']') ? positions.get(p) : undefined;
    if (item !== undefined) return item;
  }
}

/** Adds the file position (and a v5 hint for `"admin": true` style values) to a problem. */
function locate(err: ConfigError, file: ConfigFile | undefined): ConfigError {
  if (file === undefined || err.path === '') return err;
  let message = err.message;
  const rawKey = Object.keys(file.tree).find((k) => k.toLowerCase() === err.path);
  const target = rawKey === undefined ? undefined : v5SwitchTarget(err.path, file.tree[rawKey]);
  if (target !== undefined) message += ` (Centrifugo v5 style: in v6 it is "${target}")`;
  const at = positionOf(file.positions, err.path);
  if (at !== undefined) message += ` (line ${at.line}, column ${at.column})`;
  return message === err.message ? err : new ConfigError(err.path, message, { cause: err.cause });
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
    if (found !== undefined) {
      try {
        target[key] = parseEnvValue(spec, found.value, p, found.name, pass.ctx);
      } catch (err) {
        if (!(err instanceof ConfigError) || pass.ctx.errors === undefined) throw err;
        pass.ctx.errors.push(err);
      }
    }
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

/** Result of {@link inspectConfig}: everything loading found, whether or not it is valid. */
export interface ConfigInspection {
  /** The loaded configuration; undefined when `errors` is not empty. */
  loaded?: LoadedConfig;
  /** Every problem, each naming its path (with the file line and column for JSON files). */
  errors: ConfigError[];
  /** File keys the schema does not know, with positions and hints. */
  unknownKeys: UnknownKey[];
  /** Whether the config file existed. */
  fileFound: boolean;
  /** Absolute config file path ('' when none was asked for). */
  path: string;
}

function failed(errors: ConfigError[], fileFound: boolean, path: string, unknownKeys: UnknownKey[] = []): ConfigInspection {
  return { errors, unknownKeys, fileFound, path };
}

/**
 * Loads the configuration like {@link loadConfig} but collects every problem instead of
 * throwing at the first: invalid file, env and flag values are left out (their defaults
 * apply) so that validation still runs over the rest. Only a programming error throws.
 */
export function inspectConfig(opts: LoadConfigOptions = {}): ConfigInspection {
  const cwd = opts.cwd ?? process.cwd();
  // A caller-given env is copied so that `.env` values never leak into the caller's object.
  const env: Record<string, string | undefined> = opts.env === undefined ? process.env : { ...opts.env };
  const configPath = opts.configPath ?? 'config.json';
  const path = configPath === '' ? '' : resolve(cwd, configPath);
  let envFile: string | undefined;
  try {
    envFile = loadDotEnv(cwd, env);
  } catch (err) {
    if (err instanceof ConfigError) return failed([err], false, path);
    throw err;
  }
  const warnings: string[] = [];
  const unknownKeys: string[] = [];
  const errors: ConfigError[] = [];

  let fileFound = false;
  let fileValues: Tree = {};
  let file: ConfigFile | undefined;
  if (path !== '') {
    if (existsSync(path)) {
      fileFound = true;
      try {
        file = readConfigFile(path);
      } catch (err) {
        if (err instanceof ConfigError) return failed([err], true, path);
        throw err;
      }
      fileValues = coerceObject(CONFIG_SCHEMA, file.tree, '', { env, unknownKeys, errors });
    } else {
      warnings.push(FILE_NOT_FOUND_WARNING);
    }
  }
  const unknownKeyDetails = unknownKeys.map((key): UnknownKey => {
    const position = file === undefined ? undefined : file.positions.get(key);
    const hint = unknownKeyHint(key);
    return { path: key, ...(position === undefined ? {} : { position }), ...(hint === undefined ? {} : { hint }) };
  });

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
    ctx: { env, unknownKeys: envUnknown, errors },
  };
  applyEnv(CONFIG_SCHEMA, tree, '', '', '', pass);
  for (const key of envUnknown) warnings.push(`unknown key in environment JSON value: ${key}`);

  for (const [key, raw] of Object.entries(flags)) {
    if (raw === undefined) continue;
    const spec = fieldAt(key);
    if (spec === undefined) continue;
    try {
      const value =
        typeof raw === 'string' && spec.kind !== 'string'
          ? parseEnvValue(spec, raw, key, `flag --${key}`, pass.ctx)
          : coerceFileValue(spec, raw, key, pass.ctx);
      setAt(tree, key, value);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
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
  // A value already reported as invalid fell back to its default; rules about that same key
  // would only repeat the problem.
  const invalid = errors.map((e) => e.path);
  const covered = (p: string): boolean => invalid.some((q) => p === q || p.startsWith(`${q}.`) || p.startsWith(`${q}[`));
  for (const problem of configProblemsOf(config)) if (!covered(problem.path)) errors.push(problem);
  if (errors.length > 0) return failed(errors.map((e) => locate(e, file)), fileFound, path, unknownKeyDetails);

  const unknownEnv = Object.keys(env)
    .filter((k) => (k.startsWith(ENV_PREFIX) || k.startsWith(ENV_ALIAS_PREFIX)) && !pass.known.has(k) && !isIgnoredEnv(k))
    .sort();

  const loaded: LoadedConfig = {
    config: deepFreeze(config),
    warnings,
    unknownKeys,
    unknownKeyDetails,
    unknownEnv,
    fileFound,
    path,
    explicitConfig: opts.explicitConfig === true,
    fileValues: deepFreeze(fileValues),
  };
  if (envFile !== undefined) loaded.envFile = envFile;
  return { loaded, errors: [], unknownKeys: unknownKeyDetails, fileFound, path };
}

/**
 * Loads the configuration: `.env` (not overriding existing env), then the file (JSON, YAML or
 * TOML by extension; missing is only a warning), `CENTRIFUGO_*` / `GYRE_*` env vars, explicit
 * flags, then defaults for every zero value, then validation. Precedence: flag > env > file >
 * default. Throws ConfigError naming the path of the only problem, or ConfigErrors listing
 * every problem when there are several.
 */
export function loadConfig(opts: LoadConfigOptions = {}): LoadedConfig {
  const inspection = inspectConfig(opts);
  throwConfigProblems(inspection.errors);
  if (inspection.loaded === undefined) throw new Error('configuration inspection returned neither config nor errors');
  return inspection.loaded;
}

/** Env var name (CENTRIFUGO_ form) of a dotted key path. */
export function envVarName(path: string): string {
  return ENV_PREFIX + envTail(path);
}
