/**
 * A real Prometheus (Debian's package, run here in the foreground with its native-histograms
 * feature, a temporary storage directory and a spare port) scrapes two Gyre processes every
 * second: one with `prometheus.native_histograms` and one without. After known server API
 * traffic, Prometheus's query API must report the native histogram with exactly that many
 * observations (histogram_count, also of a rate), buckets on the powers of 2^(1/8) that add up
 * to it, and no classic `_bucket` series; the other process keeps its classic series.
 * Skipped when the prometheus binary is not installed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiCall } from '../helpers/api.js';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const PROMETHEUS = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));
const API_KEY = 'prometheus-native-key';
const N = 11;
const HIST = 'centrifugo_api_command_duration_seconds_histogram';

interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  histogram?: [number, { count: string; sum: string; buckets?: [number, string, string, string][] }];
}

describe('a real Prometheus scraping native histograms', { skip: PROMETHEUS ? false : 'prometheus is not installed (apt-get install prometheus)', timeout: 180_000 }, () => {
  let native: GyreProcess;
  let classic: GyreProcess;
  let prom: ChildProcess | undefined;
  let dir: string | undefined;
  let promUrl: string;
  let promLog = '';

  const query = async (q: string): Promise<Sample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; data?: { resultType: string; result: Sample[] }; error?: string };
    assert.equal(body.status, 'success', `${q}: ${body.error ?? ''}`);
    return body.data?.result ?? [];
  };
  /** The instant-vector samples of a query once `ok` accepts them (Prometheus scrapes every second). */
  const eventually = (q: string, what: string, ok: (r: Sample[]) => boolean): Promise<Sample[]> =>
    waitFor(
      async () => {
        if (prom?.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
        const r = await query(q);
        return ok(r) ? r : undefined;
      },
      what,
      60_000,
    );

  before(async () => {
    const config = (on: boolean) => ({ client: { insecure: true }, http_api: { key: API_KEY }, prometheus: { enabled: true, native_histograms: on } });
    [native, classic] = await Promise.all([startGyre(config(true)), startGyre(config(false))]);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    dir = mkdtempSync(join(tmpdir(), 'gyre-prometheus-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        'scrape_configs:',
        '  - job_name: native',
        `    static_configs: [{ targets: ['127.0.0.1:${native.port}'] }]`,
        '  - job_name: classic',
        `    static_configs: [{ targets: ['127.0.0.1:${classic.port}'] }]`,
        '',
      ].join('\n'),
    );
    prom = spawn(
      PROMETHEUS as string,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--enable-feature=native-histograms',
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const append = (c: Buffer): void => {
      if (promLog.length < 100_000) promLog += c.toString('utf8');
    };
    prom.stdout?.on('data', append);
    prom.stderr?.on('data', append);
    await waitFor(
      async () => {
        if (prom?.exitCode !== null) throw new Error(`prometheus exited ${String(prom?.exitCode)}: ${promLog}`);
        return fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false);
      },
      'prometheus ready',
      30_000,
    );
  });

  after(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom?.once('exit', r));
      prom.kill('SIGTERM');
      const killer = setTimeout(() => prom?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await Promise.all([native?.stop(), classic?.stop()]);
  });

  it('histogram_count of the native series equals the API calls made; buckets on powers of 2^(1/8); no classic series', async () => {
    await eventually('up', 'both targets scraped', (r) => r.length === 2 && r.every((s) => s.value?.[1] === '1'));
    const sel = `${HIST}{job="native",method="info",protocol="http"}`;
    // One call first, scraped, then the rest: the series grows inside a rate window.
    const call = async (g: GyreProcess): Promise<void> => assert.equal((await apiCall(g.apiUrl, API_KEY, 'info', {})).status, 200);
    await Promise.all([call(native), call(classic)]);
    await eventually(`histogram_count(${sel})`, 'the first call scraped', (r) => r[0]?.value?.[1] === '1');
    for (const g of [native, classic]) for (let i = 1; i < N; i++) await call(g);
    const [count] = await eventually(`histogram_count(${sel})`, `histogram_count = ${N}`, (r) => r[0]?.value?.[1] === String(N));
    assert.ok(count);
    const [raw] = await query(sel);
    const h = raw?.histogram?.[1];
    assert.ok(h, `${sel} is a native histogram sample: ${JSON.stringify(raw)}`);
    assert.equal(h.count, String(N));
    const buckets = h.buckets ?? [];
    assert.ok(buckets.length > 0);
    assert.equal(
      buckets.reduce((a, b) => a + Number(b[3]), 0),
      N,
      'bucket counts add up to the count',
    );
    for (const [, lower, upper] of buckets) {
      // Schema 3: every boundary is 2^(k/8) for an integer k.
      for (const edge of [Number(lower), Number(upper)]) {
        const k = Math.log2(edge) * 8;
        assert.ok(Math.abs(k - Math.round(k)) < 1e-6, `boundary ${edge} is a power of 2^(1/8)`);
      }
      assert.ok(Math.abs(Math.log2(Number(upper) / Number(lower)) * 8 - 1) < 1e-6, 'neighbouring boundaries differ by 2^(1/8)');
    }
    assert.ok(Number(h.sum) > 0);
    // The calls after the first one make a rate (extrapolated by Prometheus, so only its sign is checked).
    const [rate] = await eventually(`histogram_count(rate(${sel}[1m]))`, 'a rate', (r) => r.length === 1);
    assert.ok(Number(rate?.value?.[1]) > 0, `rate of ${sel}: ${JSON.stringify(rate)}`);
    assert.deepEqual(await query(`${HIST}_bucket{job="native"}`), [], 'no classic buckets from the native process');
    assert.deepEqual(await query(`${HIST}_count{job="native"}`), [], 'no classic count series either');
    assert.deepEqual(await query(`{__name__="centrifugo_api_command_duration_seconds",job="native"}`), [], 'no summary');
  });

  it('with the flag off Prometheus gets the classic _bucket series and the summary', async () => {
    const sel = `job="classic",method="info",protocol="http"`;
    const [count] = await eventually(`${HIST}_count{${sel}}`, `classic count = ${N}`, (r) => r[0]?.value?.[1] === String(N));
    assert.ok(count);
    const buckets = await query(`${HIST}_bucket{${sel}}`);
    // client_golang's default buckets, 0.005 … 10, and +Inf.
    assert.equal(buckets.length, 12);
    assert.equal(buckets.find((b) => b.metric.le === '+Inf')?.value?.[1], String(N));
    assert.equal((await query(`histogram_count(${HIST}{${sel}})`)).length, 0, 'no native histogram');
    assert.equal((await query(`centrifugo_api_command_duration_seconds_count{${sel}}`))[0]?.value?.[1], String(N));
  });
});
