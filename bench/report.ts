// The result table: one section per scenario, medians per server, the ratio of the
// subject (first server) to each baseline, and the scenario's targets.

import type { RunResult } from './measure.js';
import { fmtCount } from './measure.js';
import type { MetricKey, Scenario, ServerKind, Target } from './scenarios.js';

interface MetricDef {
  label: string;
  digits: number;
  count?: boolean;
}

export const METRICS: Record<MetricKey, MetricDef> = {
  cpuPerDelivery: { label: 'server CPU per delivery (µs)', digits: 3 },
  sysCpuPerDelivery: { label: '… of which kernel (µs)', digits: 3 },
  deliveriesPerSec: { label: 'deliveries/s', digits: 0, count: true },
  p50: { label: 'latency p50 (ms)', digits: 2 },
  p99: { label: 'latency p99 (ms)', digits: 2 },
  rssPerConn: { label: 'server RSS per connection (KB)', digits: 2 },
  serverCpuPct: { label: 'server CPU (% of one core)', digits: 0 },
  clientCpuPct: { label: 'load client CPU (% of one core)', digits: 0 },
  publisherCpuPct: { label: 'publisher CPU (% of one core)', digits: 0 },
  redisCpuPct: { label: 'redis-server CPU (% of one core)', digits: 0 },
  delivered: { label: 'delivered (%)', digits: 1 },
  rssPerConnIdle: { label: 'RSS per connection after idle (KB)', digits: 2 },
  idleCpuPerConnSec: { label: 'idle CPU per conn per second, first window (µs)', digits: 3 },
  idleSysCpuPerConnSec: { label: '… of which kernel (µs)', digits: 3 },
  steadyCpuPerConnSec: { label: 'idle CPU per conn per second, steady (µs)', digits: 3 },
  steadySysCpuPerConnSec: { label: '… of which kernel (µs)', digits: 3 },
  pingsPerConn: { label: 'pings received per connection (both windows)', digits: 2 },
  connectsPerSec: { label: 'connects+subscribes/s', digits: 0, count: true },
  connectOnlyPerSec: { label: 'connects/s', digits: 0, count: true },
  connectOnlyP50: { label: 'connect p50 (ms)', digits: 0 },
  connectOnlyP99: { label: 'connect p99 (ms)', digits: 0 },
  sysCpuPerConnect: { label: '… of which kernel (µs)', digits: 0 },
  backendCpuPerConnect: { label: 'proxy backend CPU per connection (µs)', digits: 0 },
  backendCpuPct: { label: 'proxy backend CPU (% of one core)', digits: 0 },
  connectP50: { label: 'connect+subscribe p50 (ms)', digits: 0 },
  connectP99: { label: 'connect+subscribe p99 (ms)', digits: 0 },
  connectFailed: { label: 'failed connections', digits: 0 },
  cpuPerConnect: { label: 'server CPU per connection (µs)', digits: 0 },
  requestsPerSec: { label: 'publish requests/s', digits: 0, count: true },
  requestP50: { label: 'publish latency p50 (ms)', digits: 3 },
  requestP99: { label: 'publish latency p99 (ms)', digits: 3 },
  cpuPerRequest: { label: 'server CPU per request (µs)', digits: 1 },
  sysCpuPerRequest: { label: '… of which kernel (µs)', digits: 1 },
  connected: { label: 'subscribed connections (still open)', digits: 0 },
  kernelPerConn: { label: 'kernel memory per connection, both ends (KB)', digits: 2 },
  broadcastLastMs: { label: 'one publication: publish → last delivery (ms)', digits: 0 },
  broadcastP50: { label: 'one publication: delivery p50 (ms)', digits: 0 },
  broadcastP99: { label: 'one publication: delivery p99 (ms)', digits: 0 },
  cpuPerDeliveryRedis: { label: 'server + redis-server CPU per delivery (µs)', digits: 3 },
};

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function fmtValue(m: MetricDef, v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return m.count ? fmtCount(v) : v.toFixed(m.digits);
}

export interface ScenarioOutcome {
  scenario: Scenario;
  servers: ServerKind[];
  results: RunResult[];
  errors: Map<ServerKind, string[]>;
}

/** Medians per server and metric. */
export function medians(o: ScenarioOutcome): Map<ServerKind, Partial<Record<MetricKey, number>>> {
  const out = new Map<ServerKind, Partial<Record<MetricKey, number>>>();
  for (const k of o.servers) {
    const rs = o.results.filter((r) => r.kind === k);
    const m: Partial<Record<MetricKey, number>> = {};
    for (const key of o.scenario.metrics) m[key] = median(rs.map((r) => r.values[key] ?? NaN));
    out.set(k, m);
  }
  return out;
}

function checkTarget(t: Target, subject: number, baseline: number | undefined): { text: string; ok: boolean | undefined } {
  let v = subject;
  if (t.vs !== undefined) {
    if (baseline === undefined) v = NaN;
    else v = t.difference ? subject - baseline : baseline !== 0 ? subject / baseline : NaN;
  }
  if (!Number.isFinite(v)) return { text: `${t.label}: n/a`, ok: undefined };
  const ok = t.op === '<=' ? v <= t.value + 1e-9 : v >= t.value - 1e-9;
  return { text: `${t.label}: ${ok ? 'met' : 'MISSED'}`, ok };
}

/** Prints every scenario as a section of one table. */
export function printTable(outcomes: ScenarioOutcome[]): void {
  const rows: string[][] = [];
  const sectionRows = new Set<number>();
  const maxServers = Math.max(1, ...outcomes.map((o) => o.servers.length));
  const maxRatios = Math.max(0, ...outcomes.map((o) => o.servers.length - 1));
  const width = 1 + maxServers + maxRatios + 1;
  const pad = (cells: string[]): string[] => [...cells, ...Array<string>(Math.max(0, width - cells.length)).fill('')];

  for (const o of outcomes) {
    const sc = o.scenario;
    const runs = o.servers.map((k) => o.results.filter((r) => r.kind === k).length);
    sectionRows.add(rows.length);
    rows.push(pad([`${sc.name}: ${sc.connections.toLocaleString('en-US')} conn${sc.connections === 1 ? '' : 's'}, runs ${runs.join('/')}`]));
    const subject = o.servers[0]!;
    const baselines = o.servers.slice(1);
    const head = ['  metric (median)', ...o.servers];
    while (head.length < 1 + maxServers) head.push('');
    for (const b of baselines) head.push(`${subject}/${b}`);
    while (head.length < 1 + maxServers + maxRatios) head.push('');
    head.push('target');
    rows.push(head);
    const meds = medians(o);
    for (const key of sc.metrics) {
      const def = METRICS[key];
      const row = [`  ${def.label}`];
      for (const k of o.servers) row.push(fmtValue(def, meds.get(k)?.[key] ?? NaN));
      while (row.length < 1 + maxServers) row.push('');
      const s = meds.get(subject)?.[key] ?? NaN;
      for (const b of baselines) {
        const v = meds.get(b)?.[key] ?? NaN;
        row.push(Number.isFinite(s) && Number.isFinite(v) && v !== 0 ? `${(s / v).toFixed(2)}x` : 'n/a');
      }
      while (row.length < 1 + maxServers + maxRatios) row.push('');
      const targets = sc.targets.filter((t) => t.metric === key);
      row.push(targets.map((t) => checkTarget(t, s, t.vs !== undefined ? meds.get(t.vs)?.[key] : undefined).text).join('; '));
      rows.push(row);
    }
  }
  const widths = Array.from({ length: width }, (_, i) => Math.max(...rows.filter((_, r) => !sectionRows.has(r)).map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === width - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log('');
  console.log('Results (medians; ratios are the first server over each other one)');
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((r, i) => console.log(sectionRows.has(i) ? r[0] : line(r)));
  for (const o of outcomes) {
    for (const [k, errs] of o.errors) for (const e of errs) console.log(`${o.scenario.name} / ${k}: run failed: ${e}`);
  }
}
