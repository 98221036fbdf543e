/**
 * A preload for a Gyre child process (`node --import <this file's URL>`): when the process
 * exits, it writes the file paths of every CommonJS module it loaded (require.cache, which also
 * holds CommonJS packages that ES modules imported) to the file named by GYRE_LOADED_MODULES_FILE.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const out = process.env.GYRE_LOADED_MODULES_FILE;
if (out) {
  const require = createRequire(import.meta.url);
  process.on('exit', () => writeFileSync(out, Object.keys(require.cache).join('\n')));
}
