// Micro-benchmark of the fossil delta encoder and decoder (src/protocol/fossil-delta.ts).
// After a build: `node dist/bench/fossil-delta.js [iterations]`. Prints microseconds per call
// for ~2 KB JSON game states with a few fields changed (the publication hot path), for ~80 KB
// ones, and for unrelated 2 KB inputs (no matches: the encoder's worst scan), plus delta sizes.
// Times are process CPU time per call, so other load on the machine inflates them less.
// Not part of `npm test` or `npm run bench`.

import { applyDelta, createDelta } from '../src/protocol/fossil-delta.js';
import { gameState, nextTick } from '../src/protocol/fossil-delta.fixtures.js';
import { Rng } from '../src/protocol/fuzz.fixtures.js';

interface Pair {
  source: Uint8Array;
  target: Uint8Array;
}

const utf8 = new TextEncoder();

/** CPU time of this process (user + system) in ms: steadier than wall time on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function jsonPairs(rng: Rng, count: number, players: number, changes: number): Pair[] {
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const state = gameState(rng, players);
    pairs.push({
      source: utf8.encode(JSON.stringify(state)),
      target: utf8.encode(JSON.stringify(nextTick(rng, state, changes))),
    });
  }
  return pairs;
}

function measure(label: string, pairs: Pair[], iterations: number): void {
  const deltas = pairs.map((p) => createDelta(p.source, p.target));
  // Warm up both paths so the JIT has settled before timing.
  for (let i = 0; i < Math.min(iterations, 2000); i++) {
    const p = pairs[i % pairs.length]!;
    applyDelta(p.source, createDelta(p.source, p.target));
  }
  let t0 = cpuMs();
  let sink = 0;
  for (let i = 0; i < iterations; i++) {
    const p = pairs[i % pairs.length]!;
    sink += createDelta(p.source, p.target).length;
  }
  const createUs = ((cpuMs() - t0) * 1000) / iterations;
  t0 = cpuMs();
  for (let i = 0; i < iterations; i++) {
    const k = i % pairs.length;
    sink += applyDelta(pairs[k]!.source, deltas[k]!).length;
  }
  const applyUs = ((cpuMs() - t0) * 1000) / iterations;
  const avgTarget = pairs.reduce((s, p) => s + p.target.length, 0) / pairs.length;
  const avgDelta = deltas.reduce((s, d) => s + d.length, 0) / deltas.length;
  console.log(
    `${label.padEnd(34)} target ${avgTarget.toFixed(0).padStart(6)} B  delta ${avgDelta.toFixed(0).padStart(6)} B ` +
      `(${((100 * avgDelta) / avgTarget).toFixed(1).padStart(5)}%)  create ${createUs.toFixed(2).padStart(8)} µs  ` +
      `apply ${applyUs.toFixed(2).padStart(8)} µs` + (sink < 0 ? '!' : ''),
  );
}

const iterations = Number(process.argv[2] ?? 50_000);
const rng = new Rng(1);
measure('2 KB JSON, 3 fields changed', jsonPairs(rng, 200, 10, 3), iterations);
measure('2 KB JSON, 1 field changed', jsonPairs(rng, 200, 10, 1), iterations);
measure('2 KB unrelated bytes', Array.from({ length: 200 }, () => ({ source: rng.bytes(2048), target: rng.bytes(2048) })), iterations);
measure('80 KB JSON, 30 fields changed', jsonPairs(rng, 20, 400, 30), Math.max(100, Math.floor(iterations / 40)));
