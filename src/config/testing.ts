import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from './index.js';

/** A fresh empty directory for one test. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gyre-config-'));
}

/** Writes `text` to `name` in a fresh directory and returns its path. */
export function writeTemp(name: string, text: string): string {
  const dir = tempDir();
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Loads `values` written as a JSON config file, with an isolated env and cwd. */
export function loadValues(values: unknown, opts: Omit<LoadConfigOptions, 'configPath' | 'cwd'> = {}): LoadedConfig {
  const path = writeTemp('config.json', JSON.stringify(values));
  return loadConfig({ env: {}, ...opts, configPath: path, cwd: tempDir() });
}
