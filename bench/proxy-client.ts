// CPU cost of Gyre's HTTP proxy client alone: `HttpProxy.connect` calls against
// bench/proxy-backend.ts (started here in its own process), N outstanding at a time,
// CPU time of this process per call (user + system, then each part).
//
// Usage (after npm run build): node dist/bench/proxy-client.js [outstanding=200] [calls=20000]

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpProxy } from '../src/proxy/http-proxy.js';
import { freePort, sleep } from './targets.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const outstanding = Math.max(1, Number(process.argv[2] ?? 200));
const calls = Math.max(1, Number(process.argv[3] ?? 20_000));

const port = await freePort();
const backend = spawn(process.execPath, [path.join(here, 'proxy-backend.js'), '--port', String(port), '--watch-stdin'], { stdio: ['pipe', 'inherit', 'inherit'] });
await sleep(500);
const proxy = new HttpProxy({ name: 'default', endpoint: `http://127.0.0.1:${port}/connect`, timeoutMs: 10_000, httpHeaders: ['cookie'] });

async function run(n: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const k = next++;
      const r = await proxy.connect({ client: `c${k}`, transport: 'websocket', protocol: 'json', user: '', headers: { cookie: `sid=u${k}` } });
      if (r?.user !== `u${k}`) throw new Error(`unexpected answer for u${k}: ${JSON.stringify(r)}`);
    }
  };
  await Promise.all(Array.from({ length: outstanding }, worker));
}

try {
  await run(3000); // warm-up
  const lines: string[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(calls);
    const c = process.cpuUsage(c0);
    const ms = performance.now() - t0;
    lines.push(`${((c.user + c.system) / calls).toFixed(1)} µs/call (user ${(c.user / calls).toFixed(1)}, system ${(c.system / calls).toFixed(1)}), ${((calls / ms) * 1000).toFixed(0)} calls/s`);
  }
  console.log(`${calls} calls, ${outstanding} outstanding: ${lines.join(' | ')}`);
} finally {
  await proxy.close();
  backend.stdin?.end();
  backend.kill();
}
