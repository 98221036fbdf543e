// Scenario registry for `npm run bench -- --scenario NAME`.
//
// A scenario describes the load shape; run.ts applies it identically to every
// server under test. To add one, append an entry to SCENARIOS. Command-line
// flags (--connections, --messages, --rate, --payload, --inflight) override
// the defaults of the selected scenario.

export type PublishMode =
  /** Publish `messages` publications back to back, `inflight` HTTP requests outstanding. */
  | 'flood'
  /** Publish `messages` publications at a fixed `rate` per second. */
  | 'rate';

export interface Scenario {
  name: string;
  description: string;
  /** Subscribed WebSocket connections (all on channel "bench"). */
  connections: number;
  /** Publications in the measured window. */
  messages: number;
  /** Publications sent (and fully delivered) before the window, to warm up the JIT. */
  warmupMessages: number;
  mode: PublishMode;
  /** Concurrent publish requests in flood mode (upper bound in rate mode). */
  inflight: number;
  /** Publications per second in rate mode. */
  rate: number;
  /** Approximate size in bytes of the publication data JSON. */
  payloadBytes: number;
  /** Protocol spoken by the load client; only JSON exists so far. */
  protocol: 'json';
}

const SCENARIOS: Scenario[] = [
  {
    name: 'fanout-json',
    description: 'one channel, every connection subscribed, publications flooded over HTTP; small JSON payload',
    connections: 5000,
    messages: 400,
    warmupMessages: 60,
    mode: 'flood',
    inflight: 16,
    rate: 0,
    payloadBytes: 0,
    protocol: 'json',
  },
  {
    name: 'fanout-json-rate',
    description: 'one channel, fixed publish rate well below saturation: latency at moderate load',
    connections: 5000,
    messages: 60,
    warmupMessages: 40,
    mode: 'rate',
    inflight: 16,
    rate: 10,
    payloadBytes: 0,
    protocol: 'json',
  },
  {
    name: 'fanout-json-1k',
    description: 'as fanout-json with ~1 KB publication data',
    connections: 5000,
    messages: 200,
    warmupMessages: 40,
    mode: 'flood',
    inflight: 16,
    rate: 0,
    payloadBytes: 1024,
    protocol: 'json',
  },
];

export function listScenarios(): readonly Scenario[] {
  return SCENARIOS;
}

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
