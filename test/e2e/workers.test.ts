/**
 * `gyre --workers N` with real processes on the Redis engine: the supervisor forks worker
 * nodes sharing the port; `info` lists each; /metrics answered by any worker is the sum over
 * all; a SIGKILLed worker comes back and its clients recover every publication made
 * meanwhile; SIGTERM gives clients 3001 and ends everything with 0; /health fails while a
 * worker is down; workers that keep dying stop the supervisor with 1; and the memory engine
 * is refused before anything starts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge, Subscription } from 'centrifuge';
import { apiResult } from '../helpers/api.js';
import { SdkClients } from '../helpers/sdk.js';
import { freePort, runGyreCli, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { sleep, uniq, waitEvent, waitFor } from '../helpers/wait.js';

const NODE = 'wk';

function workersConfig(prefix: string): Record<string, unknown> {
  return {
    node: { name: NODE },
    engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } },
    client: { insecure: true },
    http_api: { insecure: true },
    health: { enabled: true },
    prometheus: { enabled: true },
    channel: { without_namespace: { history_size: 100, history_ttl: '300s', force_recovery: true } },
  };
}

/** The supervisor's latest `worker ready` line per worker index: pid and node name. */
function readyWorkers(gyre: GyreProcess): Map<number, { pid: number; node: string }> {
  const out = new Map<number, { pid: number; node: string }>();
  for (const line of gyre.output().split('\n')) {
    if (!line.startsWith('{') || !line.includes('"worker ready"')) continue;
    const rec = JSON.parse(line) as { worker: number; pid: number; node: string };
    out.set(rec.worker, { pid: rec.pid, node: rec.node });
  }
  return out;
}

/**
 * A connection accepted just as a worker dies may be handed to that worker and never answered
 * (node:cluster's round-robin hand-off): every request here has a time-out and is retried.
 */
const REQUEST_TIMEOUT_MS = 3000;

async function health(gyre: GyreProcess): Promise<{ status: number; body: any }> {
  try {
    const res = await fetch(`${gyre.base}/health`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    return { status: res.status, body: await res.json() };
  } catch {
    return { status: 0, body: undefined };
  }
}

async function allUp(gyre: GyreProcess, total = 2): Promise<void> {
  await waitFor(
    async () => {
      const h = await health(gyre);
      return h.status === 200 && h.body?.workers?.up === total && h.body?.workers?.total === total;
    },
    `${total} workers up`,
    30_000,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Publishes through the API, retrying connection failures (a worker may die under a pooled connection). */
async function publish(gyre: GyreProcess, channel: string, n: number): Promise<void> {
  const params = { channel, data: { n }, idempotency_key: `${channel}-${n}` };
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${gyre.apiUrl}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await res.json()) as { result?: unknown };
      if (res.status === 200 && body.result !== undefined) return;
    } catch {
      // Connection reset by a dying worker: the idempotency key makes a retry safe.
    }
    if (attempt >= 100) throw new Error(`publish ${n} kept failing`);
    await sleep(50);
  }
}

/** info's nodes by name with their client counts. */
async function nodeClients(gyre: GyreProcess): Promise<Map<string, number>> {
  const info = await apiResult(gyre.apiUrl, undefined, 'info', {});
  return new Map((info.nodes as { name: string; num_clients: number }[]).map((n) => [n.name, n.num_clients]));
}

interface Receiver {
  client: Centrifuge;
  sub: Subscription;
  got: number[];
  subscribed: { wasRecovering: boolean; recovered: boolean }[];
}

describe('gyre --workers 2 on the Redis engine', { timeout: 200_000 }, () => {
  let gyre: GyreProcess;
  let sdk: SdkClients;
  const receivers: Receiver[] = [];
  const channel = uniq('wk');
  let published = 0;

  before(async () => {
    gyre = await startGyre(workersConfig(`gyre-wk-${randomUUID().slice(0, 8)}`), { args: ['--workers', '2'], startTimeoutMs: 30_000 });
    sdk = new SdkClients(gyre.wsUrl, 'json');
    await allUp(gyre);
  });

  after(async () => {
    sdk?.closeAll();
    await gyre?.stop();
  });

  it('runs two worker nodes that info lists and /metrics sums', async () => {
    const names = [`${NODE}-w1`, `${NODE}-w2`];
    assert.deepEqual([...readyWorkers(gyre).values()].map((w) => w.node).sort(), names);
    await waitFor(async () => [...(await nodeClients(gyre)).keys()].sort().join() === names.join(), 'info lists both workers', 20_000);
    // New connections are spread over the workers; connect until both have clients.
    while (receivers.length < 12) {
      const client = sdk.make({ minReconnectDelay: 500, maxReconnectDelay: 1000 });
      const sub = client.newSubscription(channel);
      const r: Receiver = { client, sub, got: [], subscribed: [] };
      sub.on('publication', (ctx) => r.got.push((ctx.data as { n: number }).n));
      sub.on('subscribed', (ctx) => r.subscribed.push({ wasRecovering: ctx.wasRecovering, recovered: ctx.recovered }));
      const ready = waitEvent(sub, 'subscribed', { timeoutMs: 10_000 });
      sub.subscribe();
      client.connect();
      await ready;
      receivers.push(r);
      if (receivers.length >= 4 && [...(await nodeClients(gyre)).values()].every((n) => n > 0)) break;
    }
    // Remote node info arrives with the heartbeat.
    await waitFor(async () => [...(await nodeClients(gyre)).values()].every((n) => n > 0), 'clients on both workers', 20_000);

    const metrics = await (await fetch(`${gyre.base}/metrics`)).text();
    const value = (re: RegExp): number => metrics.split('\n').filter((l) => re.test(l)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    assert.equal(value(/^centrifugo_node_num_clients /), receivers.length, metrics);
    assert.equal(value(/^centrifugo_client_connections_accepted\{/), receivers.length);
    assert.equal(value(/^centrifugo_node_num_nodes /), 2);
    // Command durations are summaries: one series per worker, both present.
    for (const w of ['1', '2']) assert.match(metrics, new RegExp(`^centrifugo_client_command_duration_seconds_count\\{.*worker="${w}"`, 'm'));
  });

  it('restarts a SIGKILLed worker; its clients reconnect and recover every publication, once each', async () => {
    const per = 5;
    for (let i = 0; i < per; i++) await publish(gyre, channel, ++published);
    await waitFor(() => receivers.every((r) => r.got.length === published), 'first publications everywhere', 10_000);

    // info's count of the other worker is as of its last heartbeat: wait until it adds up.
    const counts = await waitFor(async () => {
      const c = await nodeClients(gyre);
      return [...c.values()].reduce((a, b) => a + b, 0) === receivers.length ? c : undefined;
    }, 'info counting every client', 20_000);
    const victim = [...readyWorkers(gyre).entries()].find(([, w]) => (counts.get(w.node) ?? 0) > 0);
    assert.ok(victim, 'a worker with clients');
    const [index, { pid }] = victim;
    const onVictim = counts.get(victim[1].node) ?? 0;
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < per; i++) await publish(gyre, channel, ++published);
    await waitFor(() => readyWorkers(gyre).get(index)?.pid !== pid, `worker ${index} restarted`, 30_000);
    await allUp(gyre);
    assert.ok(!alive(pid));
    for (let i = 0; i < per; i++) await publish(gyre, channel, ++published);

    const expected = Array.from({ length: published }, (_, i) => i + 1);
    await waitFor(() => receivers.every((r) => r.got.length >= published), 'every publication everywhere', 30_000);
    await sleep(200); // a duplicate would arrive right behind
    for (const r of receivers) assert.deepEqual(r.got, expected);
    const resubscribed = receivers.filter((r) => r.subscribed.length > 1);
    assert.equal(resubscribed.length, onVictim, 'the killed worker\'s clients, and only they, subscribed again');
    for (const r of resubscribed) assert.deepEqual(r.subscribed.at(-1), { wasRecovering: true, recovered: true });
  });

  it('SIGTERM: every worker disconnects its clients with 3001, then the supervisor exits 0', async () => {
    await waitFor(() => receivers.every((r) => r.client.state === 'connected'), 'all clients connected', 20_000);
    const pids = [...readyWorkers(gyre).values()].map((w) => w.pid);
    const down = receivers.map((r) => waitEvent(r.client, 'connecting', { timeoutMs: 20_000 }));
    gyre.child.kill('SIGTERM');
    for (const ctx of await Promise.all(down)) assert.deepEqual([ctx.code, ctx.reason], [3001, 'shutdown']);
    await waitFor(() => gyre.exitCode() !== null, 'supervisor exit', 20_000);
    assert.equal(gyre.exitCode(), 0, gyre.output());
    assert.match(gyre.output(), /"shutdown completed"/);
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} gone`);
  });
});

describe('gyre --workers: failures', { timeout: 120_000 }, () => {
  it('refuses the memory engine before starting, naming the keys to set (start and checkconfig)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gyre-wk-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ client: { insecure: true } }));
      const run = await runGyreCli(['-c', 'config.json', '--workers', '2'], dir);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /error validating config: workers "2" needs a broker that spans processes/);
      assert.match(run.stderr, /engine\.type "redis"/);
      assert.doesNotMatch(run.stdout + run.stderr, /starting workers/);
      const fromEnv = await runGyreCli(['-c', 'config.json'], dir, { env: { CENTRIFUGO_WORKERS: 'auto' } });
      assert.equal(fromEnv.code, 1);
      assert.match(fromEnv.stderr, /workers "auto" needs a broker/);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ client: { insecure: true }, workers: 4 }));
      const check = await runGyreCli(['checkconfig', '-c', 'config.json'], dir);
      assert.equal(check.code, 1);
      assert.match(check.stdout, /workers "4" needs a broker that spans processes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('/health fails while a worker is down; a worker that keeps failing to start stops everything with 1', async () => {
    const gyre = await startGyre(workersConfig(`gyre-wk-${randomUUID().slice(0, 8)}`), { args: ['--workers', '2'], startTimeoutMs: 30_000 });
    try {
      await allUp(gyre);
      const workers = readyWorkers(gyre);
      const [first, second] = [workers.get(1), workers.get(2)];
      assert.ok(first && second);
      // A worker reads the configuration when it starts: from now on every restart fails.
      writeFileSync(gyre.configPath, '{');
      process.kill(first.pid, 'SIGKILL');
      const down = await waitFor(
        async () => {
          const h = await health(gyre);
          return h.status === 503 ? h : undefined;
        },
        '/health failing',
        20_000,
      );
      assert.deepEqual(down.body, { workers: { up: 1, total: 2 } });
      await waitFor(() => gyre.exitCode() !== null, 'supervisor gives up', 60_000);
      assert.equal(gyre.exitCode(), 1);
      assert.match(gyre.output(), /"workers keep crashing, stopping Gyre"/);
      assert.ok(!alive(second.pid), 'the healthy worker was stopped too');
    } finally {
      await gyre.stop();
    }
  });

  it('workers that cannot bind the port crash in a loop: the supervisor exits 1', async () => {
    const port = await freePort();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'gyre-wk-'));
    try {
      const cfg = { ...workersConfig(`gyre-wk-${randomUUID().slice(0, 8)}`), http_server: { address: '127.0.0.1' } };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
      const run = await runGyreCli(['-c', 'config.json', '-p', String(port), '--workers', '2'], dir, { timeoutMs: 90_000 });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /EADDRINUSE/);
      assert.match(run.stderr, /"workers keep crashing, stopping Gyre"/);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
