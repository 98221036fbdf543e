// Shared pieces of the subscription-kind benches (map-publish.ts, shared-poll.ts): a Gyre
// process started from a config object, server API calls over keep-alive HTTP, a closed-loop
// caller, percentiles and a wall clock that several processes on one machine share.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { API_KEY, freePort, repoRoot, sleep, terminate, track } from './targets.js';

export { API_KEY, sleep };

/** Milliseconds on a clock shared by the processes of one machine (fractional). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export interface GyreChild {
  child: ChildProcess;
  port: number;
  wsUrl: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `node bin/gyre.js` with `config` plus the bench's listener, API key and log level. */
export async function startGyre(config: Record<string, unknown>): Promise<GyreChild> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gyre-kinds-'));
  const file = path.join(dir, 'gyre.json');
  const full = { http_api: { key: API_KEY }, http_server: { address: '127.0.0.1', port }, log: { level: 'error' }, ...config };
  writeFileSync(file, JSON.stringify(full, null, 2));
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'gyre.js'), '--config', file], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  const keep = (c: Buffer): void => { out = (out + c.toString('utf8')).slice(-4000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gyre exited: ${out}`);
    try {
      await apiCall(port, 'info', {});
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`gyre did not start: ${out}`);
      await sleep(100);
    }
  }
  return { child, port, wsUrl: `ws://127.0.0.1:${port}/connection/websocket`, output: () => out, stop: () => terminate(child) };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One server API call; resolves with `result`, rejects on an HTTP or API error. */
export function apiCall(port: number, method: string, params: unknown): Promise<any> {
  const body = JSON.stringify(params);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: `/api/${method}`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`${method}: HTTP ${res.statusCode} ${text}`));
          const j = JSON.parse(text);
          if (j.error) return reject(new Error(`${method}: ${JSON.stringify(j.error)}`));
          resolve(j.result);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `count` calls of `call(i)` with `inflight` outstanding at a time; returns the elapsed ms. */
export async function closedLoop(count: number, inflight: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) await call(next++);
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return performance.now() - t0;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
