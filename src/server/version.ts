/** Gyre's version, read once from the package manifest. */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gyre' && pkg.version) return pkg.version;
    } catch {
      // Try the next layout (compiled dist/ or source).
    }
  }
  return '0.0.0';
}

export const gyreVersion: string = readVersion();
