/**
 * Live-object census of a running Gyre process from a V8 heap snapshot. The process must run
 * with `--heapsnapshot-signal=SIGUSR2` (e.g. NODE_OPTIONS); taking the snapshot runs a full GC,
 * so the census counts only what is still reachable.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GyreProcess } from './server-process.js';
import { sleep } from './wait.js';

export interface HeapCensus {
  /** Self size of every reachable node except compiled code (which JIT warm-up grows). */
  bytes: number;
  /** Count and self size per "type:name" (strings folded into "string"). */
  byName: Map<string, { count: number; bytes: number }>;
}

function snapshots(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'));
}

/** Signals the process, waits for its snapshot file to be complete, censuses it and deletes it. */
export async function heapCensus(gyre: GyreProcess, timeoutMs = 20_000): Promise<HeapCensus> {
  // The server's working directory is its config file's directory.
  const dir = dirname(gyre.configPath);
  const before = new Set(snapshots(dir));
  gyre.child.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Date.now() > deadline) throw new Error('no heap snapshot in time');
    await sleep(100);
    const file = snapshots(dir).find((f) => !before.has(f));
    if (!file) continue;
    const path = join(dir, file);
    // Written in chunks: done once the JSON parses (it ends with the closing brace).
    const size = statSync(path).size;
    await sleep(100);
    if (statSync(path).size !== size) continue;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
      if (!text.trimEnd().endsWith('}')) continue;
      const census = count(JSON.parse(text));
      rmSync(path, { force: true });
      return census;
    } catch (err) {
      if (err instanceof SyntaxError) continue;
      throw err;
    }
  }
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function count(s: Snapshot): HeapCensus {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const byName = new Map<string, { count: number; bytes: number }>();
  let bytes = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType] as number] ?? '?';
    const size = s.nodes[i + iSize] as number;
    if (type === 'code') continue;
    bytes += size;
    const key = type.endsWith('string') ? 'string' : `${type}:${s.strings[s.nodes[i + iName] as number] ?? ''}`;
    const e = byName.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += size;
    byName.set(key, e);
  }
  return { bytes, byName };
}

/** The largest growths between two censuses, for assertion messages. */
export function topGrowth(a: HeapCensus, b: HeapCensus, n = 8): string {
  const rows: [string, number, number][] = [];
  for (const [k, e] of b.byName) {
    const p = a.byName.get(k) ?? { count: 0, bytes: 0 };
    rows.push([k, e.count - p.count, e.bytes - p.bytes]);
  }
  rows.sort((x, y) => y[2] - x[2]);
  return rows
    .slice(0, n)
    .map(([k, c, bytes]) => `${k} ${c >= 0 ? '+' : ''}${c} (${(bytes / 1024).toFixed(0)} KiB)`)
    .join('; ');
}
