/**
 * Heap snapshots of a Gyre child process started with `--heapsnapshot-signal=SIGUSR2`: the
 * test sends the signal, waits for the `.heapsnapshot` file V8 writes into the process's
 * working directory, and counts live objects by constructor name. Taking a snapshot runs a
 * full garbage collection first, so the counts are of reachable objects only.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

/** Live objects (V8 node type "object") per constructor name, for the names asked. */
export type ObjectCounts = Record<string, number>;

interface SnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Counts objects whose constructor name is one of `names` in a parsed heap snapshot. */
export function countObjects(snapshot: SnapshotFile, names: readonly string[]): ObjectCounts {
  const fields = snapshot.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const objectType = snapshot.snapshot.meta.node_types[0].indexOf('object');
  const wanted = new Map<number, string>();
  snapshot.strings.forEach((s, i) => {
    if (names.includes(s)) wanted.set(i, s);
  });
  const counts: ObjectCounts = Object.fromEntries(names.map((n) => [n, 0]));
  const nodes = snapshot.nodes;
  for (let i = 0; i < nodes.length; i += stride) {
    if (nodes[i + typeAt] !== objectType) continue;
    const name = wanted.get(nodes[i + nameAt]!);
    if (name !== undefined) counts[name]!++;
  }
  return counts;
}

/**
 * Signals `child` to write a heap snapshot into `dir`, waits until the file is complete,
 * counts the named objects and deletes the file.
 */
export async function snapshotCounts(child: ChildProcess, dir: string, names: readonly string[], timeoutMs = 30_000): Promise<ObjectCounts> {
  const existing = new Set(readdirSync(dir));
  child.kill('SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !existing.has(f));
    if (file) {
      const path = join(dir, file);
      // V8 writes the file in pieces; it is complete once it parses (its size has stopped growing).
      const size = statSync(path).size;
      await new Promise((r) => setTimeout(r, 200));
      if (statSync(path).size === size && size > 0) {
        try {
          const parsed = JSON.parse(readFileSync(path, 'utf8')) as SnapshotFile;
          rmSync(path, { force: true });
          return countObjects(parsed, names);
        } catch {
          // Not complete yet.
        }
      }
    }
    if (Date.now() > deadline) throw new Error('no heap snapshot was written in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
