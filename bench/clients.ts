// The C load client (bench/loadclient.c) as child processes: the receiving side
// (subscribe mode) and the HTTP publisher (publish mode). Both talk line-based
// commands over stdin/stdout; see the header of loadclient.c.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { API_KEY, repoRoot, track, waitExit } from './targets.js';

const clientSource = path.join(repoRoot, 'bench', 'loadclient.c');

export function compileClient(dir: string): string {
  const out = path.join(dir, 'loadclient');
  try {
    execFileSync('gcc', ['-O2', '-pthread', '-o', out, clientSource], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`compiling ${clientSource} failed: ${e.stderr?.toString() ?? e.message}`);
  }
  return out;
}

/** Statistics line of the receiving client (READY, STATS, DONE). */
export interface ClientStats {
  received: number;
  samples: number;
  first_us: number;
  last_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  ready: number;
  failed: number;
  closed: number;
  pings: number;
  order_errors: number;
  write_errors: number;
  other_msgs: number;
  /** WebSocket data messages received (Gyre joins the items of one flush into one message). */
  messages: number;
  close_code: number;
  setup_us: number;
  conn_p50_ms: number;
  conn_p99_ms: number;
  conn_max_ms: number;
  error: string;
}

/** Result line of the publisher (PUBDONE). */
export interface PublishStats {
  requests: number;
  errors: number;
  elapsed_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  mean_us: number;
  error: string;
}

interface Line { tag: string; data: unknown }

/** A C client process with a queue of its tagged output lines. */
class ClientProcess {
  readonly child: ChildProcess;
  private queue: Line[] = [];
  private waiters: Array<{ tags: string[]; resolve: (l: Line | undefined) => void; timer: NodeJS.Timeout }> = [];
  private errText = '';

  constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    track(this.child);
    this.child.stderr!.on('data', (c: Buffer) => { this.errText = (this.errText + c.toString()).slice(-2000); });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on('line', (raw) => this.onLine(raw));
    this.child.stdin!.on('error', () => { /* client gone; reported via timeouts */ });
  }

  get pid(): number { return this.child.pid ?? -1; }
  get stderr(): string { return this.errText; }

  private onLine(raw: string): void {
    const sp = raw.indexOf(' ');
    const tag = sp < 0 ? raw : raw.slice(0, sp);
    let data: unknown;
    if (sp >= 0) {
      try { data = JSON.parse(raw.slice(sp + 1)); } catch { data = undefined; }
    }
    const line: Line = { tag, data };
    const i = this.waiters.findIndex((w) => w.tags.includes(tag));
    if (i >= 0) {
      const w = this.waiters.splice(i, 1)[0]!;
      clearTimeout(w.timer);
      w.resolve(line);
    } else {
      this.queue.push(line);
    }
  }

  next(tags: string[], timeoutMs: number): Promise<Line | undefined> {
    const i = this.queue.findIndex((l) => tags.includes(l.tag));
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve) => {
      const waiter = {
        tags,
        resolve,
        timer: setTimeout(() => {
          const k = this.waiters.indexOf(waiter);
          if (k >= 0) this.waiters.splice(k, 1);
          resolve(undefined);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  drop(tag: string): void {
    this.queue = this.queue.filter((l) => l.tag !== tag);
  }

  send(cmd: string): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(`${cmd}\n`);
  }

  async stop(): Promise<void> {
    this.send('QUIT');
    this.child.stdin!.end();
    if (!(await waitExit(this.child, 3000))) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 2000);
    }
  }
}

export interface SubscriberOptions {
  ports: number[];
  connections: number;
  protocol: 'json' | 'protobuf' | 'socketio';
  channels: number;
  threads: number;
  maxPending: number;
  setupTimeoutS?: number;
  /** Channel name (default `bench`; with channels > 1, `<name>-<k>`). */
  channel?: string;
  /** false: connect only (ready at the connect reply). Default true. */
  subscribe?: boolean;
  /** File of one line per connection: "<connect JWT>[ <subscription JWT>]" (JSON protocol). */
  tokensFile?: string;
  /** Send "Cookie: sid=u<i>" on connection i's upgrade request. */
  cookie?: boolean;
  /** JSON: subscribe with delta "fossil" (patched publications are counted without latency). */
  delta?: boolean;
  /** Global index of this process's first connection (several processes share one index space). */
  indexBase?: number;
  /** Local addresses the connections are bound to in turn (e.g. "127.0.0.2,127.0.0.3"): each has its own ephemeral ports. */
  sourceIp?: string;
}

/** Histograms of one process (HIST): flat [value, count, ...] arrays. */
export interface ClientHistograms {
  /** Delivery latency in µs, 3 significant digits. */
  lat: number[];
  /** Connect(+subscribe) time in ms (bucket upper bounds). */
  conn: number[];
  count: number;
  sum: number;
  max: number;
}

/** The receiving side: N subscribed connections counting deliveries. */
export class LoadClient extends ClientProcess {
  constructor(bin: string, o: SubscriberOptions) {
    super(bin, [
      '--port', o.ports.join(','),
      '--conns', String(o.connections),
      '--protocol', o.protocol,
      '--channel', o.channel ?? 'bench',
      '--channels', String(o.channels),
      '--threads', String(o.threads),
      '--maxpending', String(o.maxPending),
      '--setup-timeout', String(o.setupTimeoutS ?? 120),
      ...(o.subscribe === false ? ['--no-subscribe'] : []),
      ...(o.tokensFile !== undefined ? ['--tokens', o.tokensFile] : []),
      ...(o.cookie === true ? ['--cookie'] : []),
      ...(o.delta === true ? ['--delta'] : []),
      ...(o.indexBase !== undefined ? ['--index-base', String(o.indexBase)] : []),
      ...(o.sourceIp !== undefined ? ['--source-ip', o.sourceIp] : []),
    ]);
  }

  async hist(): Promise<ClientHistograms | undefined> {
    this.drop('HIST');
    this.send('HIST');
    return (await this.next(['HIST'], 10_000))?.data as ClientHistograms | undefined;
  }

  async ready(timeoutMs: number): Promise<ClientStats | undefined> {
    return (await this.next(['READY'], timeoutMs))?.data as ClientStats | undefined;
  }

  /** Waits for DONE; gives up when deliveries stall for stallMs or after hardMs. */
  async waitDelivery(stallMs: number, hardMs: number): Promise<{ stats: ClientStats | undefined; complete: boolean }> {
    const start = Date.now();
    let last = -1;
    let lastChange = Date.now();
    let latest: ClientStats | undefined;
    for (;;) {
      const done = await this.next(['DONE'], 1000);
      if (done !== undefined) return { stats: done.data as ClientStats, complete: true };
      this.drop('STATS');
      this.send('REPORT');
      const s = await this.next(['STATS', 'DONE'], 3000);
      if (s?.tag === 'DONE') return { stats: s.data as ClientStats, complete: true };
      if (s?.data !== undefined) {
        latest = s.data as ClientStats;
        if (latest.received !== last) {
          last = latest.received;
          lastChange = Date.now();
        }
      }
      if (Date.now() - lastChange > stallMs || Date.now() - start > hardMs) return { stats: latest, complete: false };
    }
  }

  async report(): Promise<ClientStats | undefined> {
    this.drop('STATS');
    this.send('REPORT');
    return (await this.next(['STATS'], 5000))?.data as ClientStats | undefined;
  }

  async reset(): Promise<void> {
    this.drop('DONE');
    this.send('RESET');
    if ((await this.next(['RESET_OK'], 5000)) === undefined) throw new Error('load client did not reset');
  }
}

export interface PublisherOptions {
  port: number;
  /** Keep-alive connections = requests in flight. */
  connections: number;
  channels: number;
  payloadBytes: number;
  /** Requests per second; 0 = closed loop (flood). */
  rate: number;
}

/** The HTTP publisher: POST /api/publish with {"channel":..,"data":{"t":µs,"s":seq}}. */
export class Publisher extends ClientProcess {
  constructor(bin: string, o: PublisherOptions) {
    super(bin, [
      '--mode', 'publish',
      '--port', String(o.port),
      '--conns', String(o.connections),
      '--channel', 'bench',
      '--channels', String(o.channels),
      '--payload', String(o.payloadBytes),
      '--rate', String(o.rate),
      '--api-key', API_KEY,
    ]);
  }

  async ready(timeoutMs: number): Promise<{ connections: number; error: string } | undefined> {
    return (await this.next(['PUBREADY'], timeoutMs))?.data as { connections: number; error: string } | undefined;
  }

  /** Sends `count` publications with sequence numbers from `firstSeq`; resolves with the batch figures. */
  async publish(count: number, firstSeq: number, timeoutMs: number): Promise<PublishStats | undefined> {
    this.send(`GO ${count} ${firstSeq}`);
    return (await this.next(['PUBDONE'], timeoutMs))?.data as PublishStats | undefined;
  }
}
