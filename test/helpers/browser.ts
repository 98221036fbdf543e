// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
// playwright-core (never a downloaded browser), with a fresh profile directory per launch.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';

/** `skip` value for a describe block: false when Chromium is installed, else the reason. */
export const chromiumSkip: false | string = existsSync(chromiumPath) ? false : `chromium not found at ${chromiumPath} (apt-get install -y chromium)`;

// The background-networking flags keep Chromium from dialling out of this closed network.
const baseArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Chromium {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile directory; safe to call twice. */
  close(): Promise<void>;
}

/** Launches headless Chromium with its own profile (a persistent context is how Playwright takes --user-data-dir). */
export async function launchChromium(opts: { extraArgs?: string[]; viewport?: { width: number; height: number } } = {}): Promise<Chromium> {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'gyre-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(dir, {
      executablePath: chromiumPath,
      headless: true,
      ...(opts.viewport ? { viewport: opts.viewport } : {}),
      args: [...baseArgs, ...(opts.extraArgs ?? [])],
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let closed = false;
  return {
    context,
    async close() {
      if (closed) return;
      closed = true;
      await context.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
