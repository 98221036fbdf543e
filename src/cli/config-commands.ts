import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { stringify as stringifyYaml } from 'yaml';
import { envLines, loadConfig, toPrintable, type LoadedConfig } from '../config/index.js';
import { errorMessage, type Output } from './output.js';

const EXTENSIONS = ['json', 'toml', 'yaml', 'yml'];

/** Serializes a config tree by the target file's extension; throws for other extensions. */
export function serializeConfig(tree: Record<string, unknown>, file: string): string {
  const ext = extname(file).slice(1).toLowerCase();
  switch (ext) {
    case 'json':
      return `${JSON.stringify(tree, null, 2)}\n`;
    case 'toml':
      return `${stringifyToml(tree)}\n`;
    case 'yaml':
    case 'yml':
      return stringifyYaml(tree);
    default:
      throw new Error(`output config file must have one of supported extensions: ${EXTENSIONS.join(', ')}`);
  }
}

/** A fresh secret: `bytes` random bytes, base64url without padding. */
export function generateSecret(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** Load config for a tool command, printing the error the way Centrifugo does on failure. */
export function loadForCommand(out: Output, configPath: string, prefix = 'error'): LoadedConfig | undefined {
  try {
    return loadConfig({ configPath, explicitConfig: true });
  } catch (err) {
    out.out(`${prefix}: ${errorMessage(err)}\n`);
    return undefined;
  }
}

/**
 * `genconfig`: writes a minimal config with fresh secrets (mode 0600, never overwriting),
 * then loads and validates it, deleting it again if that fails. Returns the exit code.
 */
export function genConfig(out: Output, file: string, cwd = process.cwd()): number {
  const path = resolve(cwd, file);
  const tree = {
    client: { token: { hmac_secret_key: generateSecret(64) }, allowed_origins: [] },
    admin: { enabled: false, password: generateSecret(16), secret: generateSecret(64) },
    http_api: { key: generateSecret(64) },
  };
  try {
    if (existsSync(path)) throw new Error(`output config file already exists: ${file}`);
    writeFileSync(path, serializeConfig(tree, path), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    out.out(`error: ${errorMessage(err)}\n`);
    return 1;
  }
  try {
    loadConfig({ configPath: path, explicitConfig: true });
  } catch (err) {
    unlinkSync(path);
    out.out(`error validating config: ${errorMessage(err)}\n`);
    return 1;
  }
  return 0;
}

/**
 * `checkconfig`: loads and validates. Fails (1) when the file is missing, invalid, or has
 * unknown keys (Gyre fails on unknown keys with or without --strict); silent 0 otherwise.
 */
export function checkConfig(out: Output, file: string, _strict: boolean): number {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig({ configPath: file, explicitConfig: true });
  } catch (err) {
    out.out(`error validating config: ${errorMessage(err)}\n`);
    return 1;
  }
  if (!loaded.fileFound) {
    out.out('config file not found\n');
    return 1;
  }
  if (loaded.unknownKeys.length > 0) {
    out.out(`unknown keys in config: ${loaded.unknownKeys.join(', ')}\n`);
    return 1;
  }
  return 0;
}

/** `defaultconfig`: the complete config (over an optional base) written to a new file or printed. */
export function defaultConfig(out: Output, file: string, base: string | undefined, dryRun: boolean): number {
  if (!dryRun && existsSync(file)) {
    out.out('error: target file already exists\n');
    return 1;
  }
  const loaded = loadForCommand(out, base ?? '');
  if (loaded === undefined) return 1;
  let text: string;
  try {
    text = serializeConfig(toPrintable(loaded.config), file);
  } catch (err) {
    out.out(`error: ${errorMessage(err)}\n`);
    return 1;
  }
  if (dryRun) {
    out.out(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  }
  try {
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    out.out(`error: ${errorMessage(err)}\n`);
    return 1;
  }
  return 0;
}

/** `defaultenv`: every known variable with its effective value, sorted. */
export function defaultEnv(out: Output, base: string | undefined, baseNonZeroOnly: boolean): number {
  const loaded = loadForCommand(out, base ?? '');
  if (loaded === undefined) return 1;
  const lines = envLines(loaded.config, loaded.fileValues, baseNonZeroOnly);
  out.out(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  return 0;
}
