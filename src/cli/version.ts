import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** Gyre's package version, read from the nearest package.json named "gyre" above this file. */
export function gyreVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'gyre' && typeof pkg.version === 'string') return (cached = pkg.version);
      } catch {
        // Not ours; keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return (cached = '0.0.0');
    dir = parent;
  }
}

/** The `version` command line: `Gyre v<version> (Node <process.version>)`. */
export function versionLine(): string {
  return `Gyre v${gyreVersion()} (Node ${process.version})`;
}
