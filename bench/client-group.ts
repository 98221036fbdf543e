// Several load-client processes acting as one (bench/loadclient.c, subscribe mode).
//
// One process may hold only so many descriptors (20,000 here), and one source address
// towards one server address and port only ~28,000 ephemeral ports, of which connect()
// finds a free one quickly only while less than about half are taken (see loadclient.c);
// so a load of 100,000 connections is spread over K processes, each binding its sockets
// in turn to its own loopback addresses 127.0.0.2, 127.0.0.3, … (all of 127.0.0.0/8 is
// loopback on Linux; at most PER_ADDRESS connections each) and numbering its connections
// from the sum of the earlier processes' counts. Counters are summed; latency and connect-time
// percentiles come from the merged histograms of every process (HIST), never from
// per-process percentiles.

import { LoadClient, type ClientStats, type SubscriberOptions } from './clients.js';
import { ephemeralPorts } from './proc.js';

/** Connections per source address: well under half the ephemeral port range. */
export function perAddress(): number {
  return Math.max(1000, Math.min(10_000, Math.floor(ephemeralPorts() / 2) - 2000));
}

/** A histogram merged from [value, count, ...] arrays. */
export class Histogram {
  private readonly counts = new Map<number, number>();
  private sorted: number[] | undefined;
  total = 0;

  add(flat: readonly number[]): void {
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const v = flat[i]!;
      const n = flat[i + 1]!;
      this.counts.set(v, (this.counts.get(v) ?? 0) + n);
      this.total += n;
    }
    this.sorted = undefined;
  }

  /** The smallest value with at least q of the samples at or below it (NaN when empty). */
  percentile(q: number): number {
    if (this.total === 0) return NaN;
    this.sorted ??= [...this.counts.keys()].sort((a, b) => a - b);
    const rank = Math.max(1, Math.floor(q * this.total));
    let acc = 0;
    for (const v of this.sorted) {
      acc += this.counts.get(v)!;
      if (acc >= rank) return v;
    }
    return this.sorted[this.sorted.length - 1]!;
  }

  min(): number {
    return this.percentile(0);
  }
}

/** Counters of every process summed; first/last delivery times are the extremes. */
export interface GroupStats {
  received: number;
  ready: number;
  failed: number;
  closed: number;
  pings: number;
  messages: number;
  order_errors: number;
  write_errors: number;
  other_msgs: number;
  first_us: number;
  last_us: number;
  close_code: number;
  error: string;
}

export interface GroupHistograms {
  /** Delivery latency, µs. */
  lat: Histogram;
  /** Connect(+subscribe) time, ms. */
  conn: Histogram;
  /** Largest latency of any process, µs (exact). */
  maxUs: number;
  meanUs: number;
}

function merge(list: readonly ClientStats[]): GroupStats {
  const sum = (f: (s: ClientStats) => number): number => list.reduce((a, s) => a + f(s), 0);
  const firsts = list.map((s) => s.first_us).filter((t) => t > 0);
  return {
    received: sum((s) => s.received),
    ready: sum((s) => s.ready),
    failed: sum((s) => s.failed),
    closed: sum((s) => s.closed),
    pings: sum((s) => s.pings),
    messages: sum((s) => s.messages),
    order_errors: sum((s) => s.order_errors),
    write_errors: sum((s) => s.write_errors),
    other_msgs: sum((s) => s.other_msgs),
    first_us: firsts.length > 0 ? Math.min(...firsts) : 0,
    last_us: Math.max(0, ...list.map((s) => s.last_us)),
    close_code: list.find((s) => s.close_code !== 0)?.close_code ?? 0,
    error: list.find((s) => s.error)?.error ?? '',
  };
}

export class LoadClientGroup {
  readonly clients: LoadClient[] = [];
  /** Connections per process. */
  readonly sizes: number[] = [];
  /** Source addresses per process. */
  readonly sourceIps: string[][] = [];

  /** `o.connections` in all, over `processes` processes bound to 127.0.0.<firstHost>, <firstHost+1>, … */
  constructor(bin: string, o: SubscriberOptions, processes: number, firstHost = 2) {
    const k = Math.max(1, Math.min(processes, o.connections));
    let base = 0;
    let host = firstHost;
    for (let i = 0; i < k; i++) {
      const n = Math.floor(o.connections / k) + (i < o.connections % k ? 1 : 0);
      const ips = Array.from({ length: Math.ceil(n / perAddress()) }, () => `127.0.0.${host++}`);
      if (host > 255) throw new Error(`too many source addresses (${host - firstHost})`);
      this.clients.push(new LoadClient(bin, { ...o, connections: n, indexBase: base, sourceIp: ips.join(',') }));
      this.sizes.push(n);
      this.sourceIps.push(ips);
      base += n;
    }
  }

  pids(): number[] {
    return this.clients.map((c) => c.pid);
  }

  get stderr(): string {
    return this.clients.map((c, i) => (c.stderr ? `[${i}] ${c.stderr}` : '')).filter(Boolean).join(' ');
  }

  /** Every process's READY line (undefined if one of them did not report in time). */
  async ready(timeoutMs: number): Promise<{ merged: GroupStats; perProcess: ClientStats[] } | undefined> {
    const all = await Promise.all(this.clients.map((c) => c.ready(timeoutMs)));
    if (all.some((s) => s === undefined)) return undefined;
    const perProcess = all as ClientStats[];
    return { merged: merge(perProcess), perProcess };
  }

  async report(): Promise<GroupStats | undefined> {
    const all = await Promise.all(this.clients.map((c) => c.report()));
    if (all.some((s) => s === undefined)) return undefined;
    return merge(all as ClientStats[]);
  }

  async reset(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.reset()));
  }

  async histograms(): Promise<GroupHistograms> {
    const all = await Promise.all(this.clients.map((c) => c.hist()));
    const lat = new Histogram();
    const conn = new Histogram();
    let maxUs = 0;
    let count = 0;
    let sum = 0;
    for (const h of all) {
      if (h === undefined) throw new Error('a load client did not send its histograms');
      lat.add(h.lat);
      conn.add(h.conn);
      maxUs = Math.max(maxUs, h.max);
      count += h.count;
      sum += h.sum;
    }
    return { lat, conn, maxUs, meanUs: count > 0 ? sum / count : NaN };
  }

  /** Polls the processes until `expected` deliveries arrived in all, deliveries stall for stallMs, or hardMs passes. */
  async waitDelivery(expected: number, stallMs: number, hardMs: number, pollMs = 250): Promise<{ stats: GroupStats | undefined; complete: boolean }> {
    const start = Date.now();
    let last = -1;
    let lastChange = Date.now();
    let latest: GroupStats | undefined;
    for (;;) {
      latest = (await this.report()) ?? latest;
      if (latest !== undefined) {
        if (latest.received >= expected) return { stats: latest, complete: true };
        if (latest.received !== last) {
          last = latest.received;
          lastChange = Date.now();
        }
      }
      if (Date.now() - lastChange > stallMs || Date.now() - start > hardMs) return { stats: latest, complete: false };
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop()));
  }
}
