// In-process benchmark of delta fan-out (subscriptions.md §3): one Gyre node (memory broker,
// history on), 5,000 subscribers of one channel, ~2 KB JSON game states with a few fields
// changed per publication, published through the node as the server API does. Compares a
// delta channel (delta negotiated by every subscriber, published with delta) against a plain
// channel: bytes queued per delivery and server CPU per delivery (process CPU time around the
// publish loop: broker, hub, encode, patch; no sockets). Subscribers are counting stubs of the
// hub's client interface, so the figures are the node's own cost without transport writes.
// After a build: `node dist/bench/delta-fanout.js [subscribers] [publications]`.
// Not part of `npm test` or `npm run bench`.

import { MemoryBroker, MemoryPresenceManager } from '../src/brokers/memory/index.js';
import type { HubClient, PushFraming } from '../src/core/hub.js';
import { Node } from '../src/core/node.js';
import type { StreamSubscription } from '../src/core/client/subscription.js';
import { gameState, nextTick } from '../src/protocol/fossil-delta.fixtures.js';
import { Rng } from '../src/protocol/fuzz.fixtures.js';

const subscribers = Number(process.argv[2] ?? 5000);
const publications = Number(process.argv[3] ?? 300);
const utf8 = new TextEncoder();

/** A subscriber stub: counts deliveries and the bytes of the items it would write. */
class Counter implements HubClient {
  readonly userId = '';
  readonly sessionId = '';
  readonly protocol;
  deliveries = 0;
  bytes = 0;
  constructor(
    readonly id: string,
    readonly framing: PushFraming,
  ) {
    this.protocol = framing === 'json' ? ('json' as const) : ('protobuf' as const);
  }
  deliverPublication(_sub: unknown, _pub: unknown, _pos: unknown, item: Uint8Array | undefined): void {
    this.deliveries++;
    if (item) this.bytes += item.length;
  }
  enqueue(): void {}
  encodeFailed(): void {
    throw new Error('encode failed');
  }
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function run(label: string, channel: string, framing: PushFraming, delta: boolean): Promise<void> {
  const node = new Node(
    {
      channel: {
        namespaces: [
          { name: 'd', allowed_delta_types: ['fossil'], delta_publish: true, history_size: 10, history_ttl: 60_000 },
          { name: 'p', history_size: 10, history_ttl: 60_000 },
        ],
      },
    },
    { broker: new MemoryBroker(), presenceManager: new MemoryPresenceManager() },
  );
  await node.start();
  await node.acquireChannel(channel);
  const counters: Counter[] = [];
  for (let i = 0; i < subscribers; i++) {
    const c = new Counter(`c${i}`, framing);
    const sub = { kind: 'stream', channel, state: 'subscribed' } as unknown as StreamSubscription;
    node.hub.addSub(c, sub, delta ? { deltaNegotiated: true } : undefined);
    counters.push(c);
  }
  const rng = new Rng(7);
  let state = gameState(rng, 10);
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < publications + 20; i++) {
    state = nextTick(rng, state, 3);
    payloads.push(utf8.encode(JSON.stringify(state)));
  }
  for (let i = 0; i < 20; i++) await node.publish({ channel, data: payloads[i]! }); // warm-up
  const before = counters.reduce((s, c) => s + c.bytes, 0);
  const t0 = cpuMs();
  for (let i = 20; i < payloads.length; i++) await node.publish({ channel, data: payloads[i]! });
  const cpu = cpuMs() - t0;
  const deliveries = subscribers * publications;
  const bytes = counters.reduce((s, c) => s + c.bytes, 0) - before;
  const avgPayload = payloads.reduce((s, p) => s + p.length, 0) / payloads.length;
  console.log(
    `${label.padEnd(22)} payload ${avgPayload.toFixed(0).padStart(5)} B  wire ${(bytes / deliveries).toFixed(0).padStart(5)} B/delivery  ` +
      `CPU ${((cpu * 1000) / deliveries).toFixed(3)} µs/delivery  ${((cpu * 1000) / publications).toFixed(1)} µs/publication`,
  );
  await node.shutdown();
}

console.log(`delta fan-out: ${subscribers} subscribers, ${publications} publications, ~2 KB JSON states, 3 fields changed each`);
// Twice over, so the first figures do not carry the JIT warm-up alone.
for (let round = 0; round < 2; round++) {
  await run('plain, json', 'p:bench', 'json', false);
  await run('delta, json', 'd:bench', 'json', true);
  await run('plain, protobuf', 'p:bench', 'protobuf', false);
  await run('delta, protobuf', 'd:bench', 'protobuf', true);
}
