/**
 * The Redis and NATS drivers are loaded only when the configuration uses them: a Gyre on the
 * memory engine never loads ioredis or nats, one on the Redis engine loads ioredis only, one with
 * the NATS broker loads nats. The list of loaded modules comes from a preload that writes
 * require.cache at exit (both drivers are CommonJS packages).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { repoRoot, startGyre } from '../helpers/server-process.js';

const preload = pathToFileURL(join(repoRoot, 'dist', 'test', 'helpers', 'loaded-modules.js')).href;

/** Starts Gyre with this config, waits until it serves a connection, stops it and lists the packages it loaded. */
async function loadedPackages(config: Record<string, unknown>): Promise<Set<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-lazy-'));
  const file = join(dir, 'modules.txt');
  try {
    const gyre = await startGyre({ http_api: { insecure: true }, ...config }, { nodeArgs: ['--import', preload], env: { GYRE_LOADED_MODULES_FILE: file } });
    // A publish goes through the broker, so the driver in use has certainly been loaded.
    const res = await fetch(`${gyre.apiUrl}/publish`, { method: 'POST', body: JSON.stringify({ channel: 'lazy', data: {} }) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { result: {} });
    assert.equal(await gyre.stop(), 0);
    const packages = new Set<string>();
    for (const path of readFileSync(file, 'utf8').split('\n')) {
      const m = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(path);
      if (m) packages.add((m[1] as string).replace(/\\/g, '/'));
    }
    return packages;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('driver loading', { timeout: 60_000 }, () => {
  it('the memory engine loads neither ioredis nor nats', async () => {
    const loaded = await loadedPackages({});
    // The preload sees CommonJS packages Gyre always loads.
    assert.ok(loaded.has('ws') && loaded.has('pino'), `loaded packages: ${[...loaded].join(', ')}`);
    assert.ok(!loaded.has('ioredis'), 'ioredis was loaded');
    assert.ok(!loaded.has('nats'), 'nats was loaded');
  });

  it('the Redis engine loads ioredis and not nats', async () => {
    const prefix = `gyre-lazy-${randomUUID().slice(0, 8)}`;
    const loaded = await loadedPackages({ engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } } });
    assert.ok(loaded.has('ioredis'), 'ioredis was not loaded');
    assert.ok(!loaded.has('nats'), 'nats was loaded');
  });

  it('the NATS broker loads nats and not ioredis', async () => {
    const prefix = `gyre-lazy-${randomUUID().slice(0, 8)}`;
    const loaded = await loadedPackages({ broker: { enabled: true, type: 'nats', nats: { url: 'nats://127.0.0.1:4222', prefix } } });
    assert.ok(loaded.has('nats'), 'nats was not loaded');
    assert.ok(!loaded.has('ioredis'), 'ioredis was loaded');
  });
});
