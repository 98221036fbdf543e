import { randomBytes } from 'node:crypto';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { stringify as stringifyYaml } from 'yaml';
import {
  ConfigError,
  configDoc,
  configDocMarkdown,
  configProblems,
  connectionAuthWarning,
  describeUnknownKey,
  envLines,
  inspectConfig,
  loadConfig,
  notSupportedWarnings,
  toPrintable,
  type LoadedConfig,
} from '../config/index.js';
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
    out.out(err instanceof ConfigError ? formatConfigErrors(configProblems(err), prefix) : `${prefix}: ${errorMessage(err)}\n`);
    return undefined;
  }
}

/** Every problem on its own line, each behind `prefix: ` so that each line stands alone. */
export function formatConfigErrors(errors: readonly ConfigError[], prefix = 'error validating config'): string {
  return errors.map((e) => `${prefix}: ${e.message}\n`).join('');
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
 * `checkconfig`: loads and validates, printing every problem at once. Fails (1) when the
 * file is missing or invalid, and on unknown keys only with `strict`; otherwise unknown keys
 * (with did-you-mean and Centrifugo v5 hints), keys of features Gyre does not serve and a
 * configuration no client can connect with are printed as warnings and the exit code is 0.
 */
export function checkConfig(out: Output, file: string, strict: boolean): number {
  const report = inspectConfig({ configPath: file, explicitConfig: true });
  if (!report.fileFound && report.errors.length === 0) {
    out.out('config file not found\n');
    return 1;
  }
  let text = formatConfigErrors(report.errors);
  const level = strict ? 'error' : 'warning';
  for (const u of report.unknownKeys) text += `${level}: unknown key ${describeUnknownKey(u)}\n`;
  const loaded = report.loaded;
  if (loaded !== undefined) {
    const warnings = [...loaded.warnings, ...notSupportedWarnings(loaded.config)];
    const auth = connectionAuthWarning(loaded.config);
    if (auth !== undefined) warnings.push(auth);
    for (const w of warnings) text += `warning: ${w}\n`;
  }
  out.out(text);
  return report.errors.length > 0 || (strict && report.unknownKeys.length > 0) ? 1 : 0;
}

/** `configdoc`: documentation of every configuration key, Markdown or (`json`) a JSON array. */
export function configDocCommand(out: Output, json: boolean): number {
  out.out(json ? `${JSON.stringify(configDoc(), null, 2)}\n` : configDocMarkdown());
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
