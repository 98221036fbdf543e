/**
 * Test-only inputs for the fossil delta tests: source/target pairs of every shape the encoder
 * must handle (JSON edits, empty, identical, unrelated, large, binary, block-boundary sizes,
 * highly repetitive), generated from a seeded PRNG so a failure replays from its seed.
 */
import { Rng } from './fuzz.fixtures.js';

export interface DeltaCase {
  name: string;
  source: Uint8Array;
  target: Uint8Array;
}

const utf8 = new TextEncoder();

/** A game-state object of about `players` × 200 bytes of JSON. */
export function gameState(rng: Rng, players: number): Record<string, unknown> {
  const list = [];
  for (let i = 0; i < players; i++) {
    list.push({
      id: `player-${i}-${rng.int(1_000_000)}`,
      name: rng.pick(['Ada', 'Grace', 'Linus', 'Ken', 'Barbara', 'Edsger', 'Margaret']) + i,
      team: rng.pick(['red', 'blue']),
      pos: { x: rng.int(10_000) / 10, y: rng.int(10_000) / 10, z: 0 },
      hp: rng.int(101),
      score: rng.int(100_000),
      alive: rng.chance(0.9),
      inventory: ['sword', 'shield', 'potion', 'map'].slice(0, rng.int(5)),
    });
  }
  return { match: `m-${rng.int(1e9)}`, tick: rng.int(1e6), phase: 'running', map: 'harbor', players: list };
}

/** The same state one tick later: the tick and a few players' position, hp or score change. */
export function nextTick(rng: Rng, state: Record<string, unknown>, changes: number): Record<string, unknown> {
  const next = structuredClone(state) as { tick: number; players: Array<Record<string, unknown>> };
  next.tick += 1;
  for (let c = 0; c < changes && next.players.length > 0; c++) {
    const p = rng.pick(next.players);
    switch (rng.int(3)) {
      case 0:
        p['pos'] = { x: rng.int(10_000) / 10, y: rng.int(10_000) / 10, z: 0 };
        break;
      case 1:
        p['hp'] = rng.int(101);
        break;
      default:
        p['score'] = rng.int(100_000);
    }
  }
  return next;
}

/** `bytes` with 1..edits random edits: replace, insert, delete or move a range. */
export function editBytes(rng: Rng, bytes: Uint8Array, edits: number): Uint8Array {
  let b = Buffer.from(bytes);
  const n = 1 + rng.int(edits);
  for (let e = 0; e < n; e++) {
    const at = rng.int(b.length + 1);
    const len = rng.int(Math.min(64, b.length - at) + 1);
    switch (rng.int(4)) {
      case 0:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(len), b.subarray(at + len)]);
        break;
      case 1:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(40)), b.subarray(at)]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
        break;
      default: {
        // Move a range to the front.
        b = Buffer.concat([b.subarray(at, at + len), b.subarray(0, at), b.subarray(at + len)]);
      }
    }
  }
  return b;
}

function text(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Every shape of input, `rounds` random pairs per shape, plus fixed edge cases. */
export function deltaCases(seed: number, rounds: number): DeltaCase[] {
  const rng = new Rng(seed);
  const cases: DeltaCase[] = [
    { name: 'both empty', source: new Uint8Array(0), target: new Uint8Array(0) },
    { name: 'empty target, long source', source: rng.bytes(100), target: new Uint8Array(0) },
    { name: 'empty target, tiny source', source: text('tiny'), target: new Uint8Array(0) },
    { name: 'empty source', source: new Uint8Array(0), target: text('{"a":1,"b":"some text longer than a block"}') },
    { name: 'all one byte', source: new Uint8Array(10_000).fill(97), target: new Uint8Array(10_050).fill(97) },
    {
      name: 'repetitive with a change',
      source: text('abcdefgh'.repeat(3000)),
      target: text('abcdefgh'.repeat(1500) + 'XYZ' + 'abcdefgh'.repeat(1500)),
    },
  ];
  // Sizes around the block size, where the index and scan bounds sit.
  for (const ls of [15, 16, 17, 31, 32, 33, 48]) {
    for (const lt of [0, 1, 16, 17, 32, 33, 49]) {
      const source = rng.bytes(ls);
      const target = Buffer.concat([source.subarray(0, Math.min(ls, lt)), rng.bytes(Math.max(0, lt - ls))]);
      cases.push({ name: `boundary ${ls}->${lt}`, source, target });
    }
  }
  for (let r = 0; r < rounds; r++) {
    const state = gameState(rng, 1 + rng.int(12));
    const source = text(JSON.stringify(state));
    cases.push({ name: `json few fields #${r}`, source, target: text(JSON.stringify(nextTick(rng, state, 1 + rng.int(4)))) });
    cases.push({ name: `identical #${r}`, source, target: Uint8Array.from(source) });
    cases.push({ name: `unrelated #${r}`, source: rng.bytes(rng.int(3000)), target: rng.bytes(rng.int(3000)) });
    const bin = rng.bytes(1 + rng.int(5000));
    cases.push({ name: `binary edits #${r}`, source: bin, target: editBytes(rng, bin, 8) });
    const txt = text(JSON.stringify(gameState(rng, 5)));
    cases.push({ name: `json byte edits #${r}`, source: txt, target: editBytes(rng, txt, 5) });
  }
  for (let r = 0; r < 3; r++) {
    const big = text(JSON.stringify(gameState(rng, 400))); // ~80 KB
    cases.push({ name: `large json #${r}`, source: big, target: text(JSON.stringify(nextTick(rng, JSON.parse(new TextDecoder().decode(big)) as Record<string, unknown>, 30))) });
    const bin = rng.bytes(70_000 + rng.int(30_000));
    cases.push({ name: `large binary #${r}`, source: bin, target: editBytes(rng, bin, 40) });
  }
  // Past 512 KB of source the encoder computes hash buckets another way.
  const huge = rng.bytes(600_000);
  cases.push({ name: 'huge binary', source: huge, target: editBytes(rng, huge, 40) });
  return cases;
}
