// Scenario registry for `npm run bench -- --scenario NAME`.
//
// A scenario describes the load shape, the servers it compares (the first one is the
// subject, the others its baselines; ratios are subject/baseline) and the targets its
// figures are checked against. run.ts applies it identically to every server. To add
// one, append an entry to SCENARIOS (and to DEFAULT_SET to run it by default).
// Command-line flags (--connections, --messages, --rate, --payload, --inflight, --runs)
// override the defaults of the selected scenarios.

/** The servers the benchmark can start (see targets.ts). */
export type ServerKind =
  /** Gyre, memory engine. */
  | 'gyre'
  /** Gyre with history and recovery on the benchmark channels. */
  | 'gyre-history'
  /** gyre-history plus fossil delta on the benchmark channels (delta_publish); the load client subscribes with delta. */
  | 'gyre-delta'
  /** One Gyre process on the Redis engine. */
  | 'gyre-redis'
  /** Two Gyre processes on the Redis engine; connections split across both, publishing through the first. */
  | 'gyre-redis-2node'
  /** Gyre with one worker per core (node:cluster, one port), joined by the Redis engine. */
  | 'gyre-workers'
  /** Gyre from another checkout (BENCH_GYRE_BASE=/path/to/built/tree), memory engine: A/B comparisons. */
  | 'gyre-base'
  /** Pre-framed, write-coalescing `ws` server (bench/reference-server.ts). */
  | 'reference'
  /** `ws.send` per subscriber (bench/plain-ws-server.ts). */
  | 'plain-ws'
  /** uWebSockets.js pub/sub, C++ fan-out (bench/uws-server.ts; installed under bench/uws/ on first use). */
  | 'uws'
  /** Socket.IO 4 with an HTTP publish endpoint (bench/socketio-server.ts). */
  | 'socketio'
  /** Gyre authenticating connections by HS256 JWT; namespace `px` open to clients. */
  | 'gyre-token'
  /** gyre-token, and every subscription to `px:…` carries a subscription JWT. */
  | 'gyre-token-sub'
  /** Gyre with the HTTP connect proxy to bench/proxy-backend.ts (own process); namespace `px` open to clients. */
  | 'gyre-proxy'
  /** gyre-proxy, and namespace `px` has the subscribe proxy (same backend). */
  | 'gyre-proxy-sub';

export type ScenarioKind =
  /** Subscribed connections, publications over the HTTP API, deliveries counted by the load client. */
  | 'fanout'
  /** Subscribed connections left idle: memory and the CPU of keepalive. */
  | 'idle'
  /** Every connection opened and subscribed at once. */
  | 'storm'
  /** HTTP API publish throughput with one subscriber. */
  | 'api'
  /** Many connections over several worker and load-client processes: memory, idle CPU, one broadcast, a flood. */
  | 'scale';

export type PublishMode =
  /** `messages` publications back to back, `inflight` HTTP requests outstanding. */
  | 'flood'
  /** `messages` publications at a fixed `rate` per second. */
  | 'rate';

/** Figure keys; see METRICS in report.ts for labels and meaning. */
export type MetricKey =
  | 'cpuPerDelivery'
  | 'sysCpuPerDelivery'
  | 'deliveriesPerSec'
  | 'p50'
  | 'p99'
  | 'rssPerConn'
  | 'serverCpuPct'
  | 'clientCpuPct'
  | 'publisherCpuPct'
  | 'redisCpuPct'
  | 'delivered'
  | 'rssPerConnIdle'
  | 'idleCpuPerConnSec'
  | 'idleSysCpuPerConnSec'
  | 'steadyCpuPerConnSec'
  | 'steadySysCpuPerConnSec'
  | 'sysCpuPerRequest'
  | 'pingsPerConn'
  | 'connectsPerSec'
  | 'connectOnlyPerSec'
  | 'connectOnlyP50'
  | 'connectOnlyP99'
  | 'backendCpuPerConnect'
  | 'backendCpuPct'
  | 'sysCpuPerConnect'
  | 'connectP50'
  | 'connectP99'
  | 'connectFailed'
  | 'cpuPerConnect'
  | 'requestsPerSec'
  | 'requestP50'
  | 'requestP99'
  | 'cpuPerRequest'
  | 'connected'
  | 'kernelPerConn'
  | 'broadcastLastMs'
  | 'broadcastP50'
  | 'broadcastP99'
  | 'cpuPerDeliveryRedis';

/** A goal for one figure: absolute, or as a ratio to a baseline server of the scenario. */
export interface Target {
  metric: MetricKey;
  /** Compare subject/vs (or subject − vs with `difference`); absent: compare the subject's value itself. */
  vs?: ServerKind;
  /** Compare the difference subject − vs instead of the ratio. */
  difference?: boolean;
  op: '<=' | '>=';
  value: number;
  /** How the goal is shown, e.g. "≤ 1.2× reference". */
  label: string;
}

export interface Scenario {
  name: string;
  description: string;
  kind: ScenarioKind;
  /** Servers compared; the first is the subject. */
  servers: ServerKind[];
  /** Subscribed WebSocket connections. */
  connections: number;
  /** Channels: connection i subscribes to `bench` (1 channel) or `bench-<i mod channels>`. */
  channels: number;
  /** Channel name instead of `bench` (e.g. `px:bench`, a channel of namespace px). */
  channel?: string;
  /** Storm: false = connect only, no subscribe. Default true. */
  subscribe?: boolean;
  protocol: 'json' | 'protobuf';
  /** Publications in the measured window. */
  messages: number;
  /** Per-server override of `messages` (slow servers get fewer to keep the run short). */
  messagesBy?: Partial<Record<ServerKind, number>>;
  /** Publications sent (and fully delivered) before the window, to warm up the JIT. */
  warmupMessages: number;
  mode: PublishMode;
  /** Concurrent publish requests (HTTP keep-alive connections of the publisher). */
  inflight: number;
  /** Publications per second in rate mode. */
  rate: number;
  /** Approximate size in bytes of the publication data JSON. */
  payloadBytes: number;
  /** Connection attempts in flight during setup. */
  maxPending: number;
  /** Idle scenarios: length of the measured idle window. */
  idleSeconds: number;
  /** Per-server override of `idleSeconds` (a server without keepalive needs no long window). */
  idleSecondsBy?: Partial<Record<ServerKind, number>>;
  /** Idle scenarios: a second window right after the first, for the steady state. */
  steadySeconds?: number;
  steadySecondsBy?: Partial<Record<ServerKind, number>>;
  /** Runs per server by default (medians are taken over runs). */
  runs: number;
  /** scale: Gyre worker processes of gyre-workers (BENCH_WORKERS overrides). */
  workers?: number;
  /** scale: load-client processes, each on its own loopback source address (127.0.0.2, …). */
  clientProcesses?: number;
  /** scale: single publications sent one at a time (each waits for all its deliveries). */
  singlePublications?: number;
  /** Figures shown in the table, in order. */
  metrics: MetricKey[];
  targets: Target[];
}

const FANOUT_METRICS: MetricKey[] = ['cpuPerDelivery', 'sysCpuPerDelivery', 'deliveriesPerSec', 'p50', 'p99', 'rssPerConn', 'serverCpuPct', 'clientCpuPct', 'delivered'];

function fanout(s: Partial<Scenario> & Pick<Scenario, 'name' | 'description' | 'servers'>): Scenario {
  return {
    kind: 'fanout',
    connections: 5000,
    channels: 1,
    protocol: 'json',
    messages: 400,
    warmupMessages: 60,
    mode: 'flood',
    inflight: 16,
    rate: 0,
    payloadBytes: 0,
    maxPending: 256,
    idleSeconds: 0,
    runs: 3,
    metrics: FANOUT_METRICS,
    targets: [],
    ...s,
  };
}

const SCENARIOS: Scenario[] = [
  // --- hardware-limit fan-out (issue "Fan-out at the hardware limit", part 1)
  fanout({
    name: 'flood-json-10k',
    description: '10,000 connections on one channel, publications flooded (16 in flight), JSON; Gyre vs pre-framed reference vs plain ws vs uWebSockets.js',
    servers: ['gyre', 'reference', 'plain-ws', 'uws'],
    connections: 10_000,
    messages: 300,
    messagesBy: { 'plain-ws': 30 },
    warmupMessages: 40,
    targets: [
      { metric: 'cpuPerDelivery', vs: 'reference', op: '<=', value: 1.2, label: '≤ 1.2× reference' },
      { metric: 'cpuPerDelivery', vs: 'plain-ws', op: '<=', value: 1 / 6, label: '≤ 1/6 plain ws' },
      { metric: 'cpuPerDelivery', vs: 'uws', op: '<=', value: 1, label: '≤ uws' },
    ],
  }),
  fanout({
    name: 'flood-protobuf-10k',
    description: 'as flood-json-10k over the Protobuf protocol (binary frames, data as bytes)',
    servers: ['gyre', 'reference', 'plain-ws', 'uws'],
    connections: 10_000,
    protocol: 'protobuf',
    messages: 300,
    messagesBy: { 'plain-ws': 30 },
    warmupMessages: 40,
    runs: 2,
    targets: [
      { metric: 'cpuPerDelivery', vs: 'reference', op: '<=', value: 1.2, label: '≤ 1.2× reference' },
      { metric: 'cpuPerDelivery', vs: 'plain-ws', op: '<=', value: 1 / 6, label: '≤ 1/6 plain ws' },
      { metric: 'cpuPerDelivery', vs: 'uws', op: '<=', value: 1, label: '≤ uws' },
    ],
  }),
  // --- part 2: many channels at a moderate rate: latency
  fanout({
    name: 'channels-1000',
    description: '10,000 connections over 1,000 channels (10 each), 2,000 publications/s round-robin over the channels: latency',
    servers: ['gyre', 'reference'],
    connections: 10_000,
    channels: 1000,
    messages: 10_000,
    warmupMessages: 2000,
    mode: 'rate',
    rate: 2000,
    inflight: 32,
    runs: 2,
    metrics: ['p50', 'p99', 'cpuPerDelivery', 'serverCpuPct', 'delivered'],
    targets: [{ metric: 'p99', vs: 'reference', difference: true, op: '<=', value: 1, label: '≤ reference + 1 ms' }],
  }),
  // --- part 3: idle memory and keepalive CPU
  {
    ...fanout({ name: 'idle-19k', description: '', servers: [] }),
    name: 'idle-19k',
    description:
      '19,000 subscribed connections left idle for 50 s, then 50 s more (every connection gets exactly two pings per window): RSS per connection, idle CPU in the first window (with the clean-up after the connection burst) and in the second (steady state)',
    kind: 'idle',
    servers: ['gyre', 'reference', 'uws'],
    connections: 19_000,
    idleSeconds: 50,
    // The reference and uws send no pings; their windows only need to cover their own post-burst clean-up.
    idleSecondsBy: { reference: 30, uws: 30 },
    steadySeconds: 50,
    steadySecondsBy: { reference: 30, uws: 30 },
    runs: 1,
    metrics: ['rssPerConn', 'rssPerConnIdle', 'idleCpuPerConnSec', 'idleSysCpuPerConnSec', 'steadyCpuPerConnSec', 'steadySysCpuPerConnSec', 'pingsPerConn'],
    targets: [
      { metric: 'rssPerConn', op: '<=', value: 6, label: '≤ 6 KB' },
      { metric: 'steadyCpuPerConnSec', op: '<=', value: 1, label: '≤ 1 µs' },
    ],
  },
  // --- part 4: connection storm
  {
    ...fanout({ name: 'storm-10k', description: '', servers: [] }),
    name: 'storm-10k',
    description: '10,000 clients connect and subscribe at once (all attempts in flight): every one must succeed',
    kind: 'storm',
    servers: ['gyre', 'reference'],
    connections: 10_000,
    maxPending: 10_000,
    runs: 2,
    metrics: ['connectsPerSec', 'connectP50', 'connectP99', 'connectFailed', 'cpuPerConnect'],
    targets: [{ metric: 'connectFailed', op: '<=', value: 0, label: 'all succeed' }],
  },
  // --- connection storms through the HTTP proxies (not in the default set)
  {
    ...fanout({ name: 'storm-10k-proxy', description: '', servers: [] }),
    name: 'storm-10k-proxy',
    description:
      '10,000 clients connect at once (connect only) through the HTTP connect proxy to a node:http backend in its own process (user from the sid cookie) vs HS256 JWT connects vs insecure (no authentication)',
    kind: 'storm',
    servers: ['gyre-proxy', 'gyre-token', 'gyre'],
    connections: 10_000,
    // Below the listen backlog (4,096): with all 10,000 in flight the accept queue overflows,
    // thousands of handshakes are retried by the kernel after 1 s and more, and connects/s
    // measures those timers rather than the server (see bench/README.md).
    maxPending: 2000,
    subscribe: false,
    runs: 3,
    metrics: ['connectOnlyPerSec', 'connectOnlyP50', 'connectOnlyP99', 'connectFailed', 'cpuPerConnect', 'sysCpuPerConnect', 'backendCpuPerConnect', 'serverCpuPct', 'backendCpuPct', 'clientCpuPct'],
    targets: [
      { metric: 'connectOnlyPerSec', vs: 'gyre-token', op: '>=', value: 0.6, label: '≥ 0.6× token' },
      { metric: 'connectFailed', op: '<=', value: 0, label: 'all succeed' },
    ],
  },
  {
    ...fanout({ name: 'storm-10k-subproxy', description: '', servers: [] }),
    name: 'storm-10k-subproxy',
    description:
      '10,000 clients connect and subscribe to px:bench at once; connect and subscribe proxies (two backend calls per client) vs JWT connect + subscription JWT vs JWT connect + plain subscribe',
    kind: 'storm',
    servers: ['gyre-proxy-sub', 'gyre-token-sub', 'gyre-token'],
    connections: 10_000,
    maxPending: 2000,
    channel: 'px:bench',
    runs: 3,
    metrics: ['connectsPerSec', 'connectP50', 'connectP99', 'connectFailed', 'cpuPerConnect', 'sysCpuPerConnect', 'backendCpuPerConnect', 'serverCpuPct', 'backendCpuPct', 'clientCpuPct'],
    targets: [
      { metric: 'connectsPerSec', vs: 'gyre-token-sub', op: '>=', value: 0.6, label: '≥ 0.6× token-sub' },
      { metric: 'connectFailed', op: '<=', value: 0, label: 'all succeed' },
    ],
  },
  // --- part 5: history and recovery
  fanout({
    name: 'history',
    description: '5,000 connections, flood; history (size 100, ttl 300 s) and force_recovery on the channel vs off',
    servers: ['gyre-history', 'gyre'],
    connections: 5000,
    messages: 300,
    warmupMessages: 40,
    runs: 2,
    metrics: ['cpuPerDelivery', 'deliveriesPerSec', 'p99', 'serverCpuPct', 'delivered'],
    targets: [{ metric: 'cpuPerDelivery', vs: 'gyre', op: '<=', value: 1.25, label: '≤ 1.25× without' }],
  }),
  // --- part 6: HTTP API publish throughput
  {
    ...fanout({ name: 'api-publish', description: '', servers: [] }),
    name: 'api-publish',
    description: 'HTTP API publish, 16 keep-alive connections in a closed loop, ~30 B data, one subscriber: Gyre /api/publish vs Socket.IO emit behind an HTTP endpoint',
    kind: 'api',
    servers: ['gyre', 'socketio'],
    connections: 1,
    messages: 20_000,
    warmupMessages: 3000,
    inflight: 16,
    runs: 2,
    metrics: ['requestsPerSec', 'requestP50', 'requestP99', 'cpuPerRequest', 'sysCpuPerRequest', 'serverCpuPct', 'publisherCpuPct', 'delivered'],
    targets: [{ metric: 'requestsPerSec', vs: 'socketio', op: '>=', value: 2, label: '≥ 2× Socket.IO' }],
  },
  {
    ...fanout({ name: 'api-publish-100', description: '', servers: [] }),
    name: 'api-publish-100',
    description: 'the same with 100 subscribers on the channel: the publish path plus a small fan-out per request',
    kind: 'api',
    servers: ['gyre', 'socketio'],
    connections: 100,
    messages: 20_000,
    warmupMessages: 3000,
    inflight: 16,
    runs: 2,
    metrics: ['requestsPerSec', 'requestP50', 'requestP99', 'cpuPerRequest', 'sysCpuPerRequest', 'serverCpuPct', 'publisherCpuPct', 'delivered'],
    targets: [],
  },
  // --- issue "Scale out": two nodes on Redis
  fanout({
    name: 'fanout-redis-2node',
    description: '10,000 connections split over two Gyre nodes on the Redis engine, publishing through node 1, flood; vs one Gyre on memory',
    servers: ['gyre-redis-2node', 'gyre'],
    connections: 10_000,
    messages: 300,
    warmupMessages: 40,
    runs: 2,
    metrics: ['deliveriesPerSec', 'p50', 'p99', 'cpuPerDelivery', 'serverCpuPct', 'redisCpuPct', 'clientCpuPct', 'delivered'],
    targets: [{ metric: 'deliveriesPerSec', vs: 'gyre', op: '>=', value: 0.7, label: '≥ 0.7× memory' }],
  }),
  // --- one process per core (not in the default set)
  fanout({
    name: 'fanout-workers',
    description: '10,000 connections, flood; Gyre with one worker per core (node:cluster, Redis engine) vs one process (memory, and Redis)',
    servers: ['gyre-workers', 'gyre', 'gyre-redis'],
    runs: 2,
    connections: 10_000,
    messages: 300,
    warmupMessages: 40,
    metrics: ['deliveriesPerSec', 'p50', 'p99', 'cpuPerDelivery', 'serverCpuPct', 'redisCpuPct', 'clientCpuPct', 'delivered'],
    targets: [{ metric: 'cpuPerDelivery', vs: 'gyre', op: '<=', value: 1.15, label: '≤ 1.15× one process' }],
  }),
  // --- issue "Scale": 100,000 connections across processes (not in the default set: minutes)
  {
    ...fanout({ name: 'scale-100k', description: '', servers: [] }),
    name: 'scale-100k',
    description:
      '100,000 subscribed connections on one channel held by 7 Gyre workers (node:cluster, Redis engine) from 6 load-client processes (two loopback source addresses each, 127.0.0.2-13): RSS and kernel memory per connection, idle CPU over two 50 s windows with pings, 5 single publications to all, then a flood',
    kind: 'scale',
    servers: ['gyre-workers'],
    connections: 100_000,
    // ≤ 20,000 descriptors per process: 100,000 / 7 ≈ 14,300 per worker, / 6 ≈ 16,700 per client process.
    workers: 7,
    clientProcesses: 6,
    // Connection attempts in flight in all (split over the client processes); below the listen backlog.
    maxPending: 1200,
    idleSeconds: 50,
    steadySeconds: 50,
    singlePublications: 5,
    messages: 100,
    warmupMessages: 10,
    inflight: 16,
    runs: 1,
    metrics: [
      'connected', 'connectFailed', 'connectsPerSec', 'connectP50', 'connectP99',
      'rssPerConn', 'kernelPerConn', 'rssPerConnIdle',
      'idleCpuPerConnSec', 'idleSysCpuPerConnSec', 'steadyCpuPerConnSec', 'steadySysCpuPerConnSec', 'pingsPerConn',
      'broadcastLastMs', 'broadcastP50', 'broadcastP99',
      'deliveriesPerSec', 'cpuPerDelivery', 'cpuPerDeliveryRedis', 'p50', 'p99', 'serverCpuPct', 'redisCpuPct', 'clientCpuPct', 'delivered',
    ],
    targets: [{ metric: 'connectFailed', op: '<=', value: 0, label: 'all subscribe' }],
  },
  // --- earlier single-scenario benchmarks, kept for continuity
  fanout({
    name: 'fanout-json',
    description: '5,000 connections on one channel, publications flooded (16 in flight); small JSON payload',
    servers: ['gyre', 'reference'],
    targets: [{ metric: 'cpuPerDelivery', vs: 'reference', op: '<=', value: 1.2, label: '≤ 1.2× reference' }],
  }),
  fanout({
    name: 'fanout-json-rate',
    description: '5,000 connections, one channel, 10 publications/s: latency when the server is not flooded, one frame per write',
    servers: ['gyre', 'reference'],
    messages: 60,
    warmupMessages: 40,
    mode: 'rate',
    rate: 10,
  }),
  fanout({
    name: 'fanout-json-1k',
    description: 'as fanout-json with ~1 KB publication data',
    servers: ['gyre', 'reference'],
    messages: 200,
    warmupMessages: 40,
    payloadBytes: 1024,
  }),
  fanout({
    name: 'delta-json-5k',
    description: '5,000 connections, ~1 KB data of which only t and s change, flood; gyre-delta (fossil patches) vs gyre-history (same history, full publications)',
    servers: ['gyre-delta', 'gyre-history'],
    messages: 300,
    warmupMessages: 40,
    payloadBytes: 1024,
    runs: 2,
    metrics: ['cpuPerDelivery', 'deliveriesPerSec', 'serverCpuPct', 'clientCpuPct', 'delivered'],
  }),
];

/** What `npm run bench` runs without --scenario. */
export const DEFAULT_SET = [
  'flood-json-10k',
  'flood-protobuf-10k',
  'channels-1000',
  'idle-19k',
  'storm-10k',
  'history',
  'api-publish',
  'api-publish-100',
  'fanout-redis-2node',
  'fanout-workers',
];

export function listScenarios(): readonly Scenario[] {
  return SCENARIOS;
}

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
