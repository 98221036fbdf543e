// Copies the admin UI's static files (web/*.html, *.css, *.svg) next to the compiled scripts in dist/web.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'web');
const to = join(root, 'dist', 'web');
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (/\.(html|css|svg|png|ico)$/.test(name)) copyFileSync(join(from, name), join(to, name));
}
