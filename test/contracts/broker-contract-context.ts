/**
 * Types and the per-case harness of the broker contract, kept apart from the case lists so the
 * case files import them without a cycle.
 */
import type { Broker } from '../../src/core/ports.js';
import { Recorder, bytes, sleep, uniqueChannel } from './contract-helpers.js';

/** Builds one broker node (not yet `run`); cleanup runs after the broker is closed. */
export type MakeBroker = () => Promise<{ broker: Broker; cleanup?: () => Promise<void> }>;

export interface BrokerContractOptions {
  /** Every publication reaches subscribed nodes exactly once, in publish order (default true). */
  reliableOrdering?: boolean;
  /** The broker keeps history (default true). False skips stream, history and version cases (NATS). */
  history?: boolean;
  /** Brokers from makeBroker share a backend, so a publish on one reaches the others (default false). */
  sharedBackend?: boolean;
  /** TTL used by the expiry cases, ms (default 300). Raise it for backends with coarse expiry. */
  shortTtlMs?: number;
  /** How long to wait for an asynchronous delivery, ms (default 2000). */
  deliveryTimeoutMs?: number;
  /** Extra wait before asserting that nothing was delivered, ms (default 50). */
  settleMs?: number;
}

/** What every case receives: a running broker, its recorder and the resolved options. */
export interface BrokerCaseContext {
  broker: Broker;
  rec: Recorder;
  opts: Required<BrokerContractOptions>;
  /** Waits until `n` publications arrived on the channel. */
  waitPubs(channel: string, n: number): Promise<void>;
  /** Makes sure anything the broker was going to deliver so far has arrived. */
  settle(): Promise<void>;
}

/** Plenty of history for cases that do not test trimming or expiry. */
export const HISTORY = { historySize: 100, historyTtlMs: 60_000 } as const;

/** Runs `fn` against a fresh running broker and always closes it. */
export function withBroker(make: MakeBroker, opts: Required<BrokerContractOptions>, fn: (ctx: BrokerCaseContext) => Promise<void>): () => Promise<void> {
  return async () => {
    const { broker, cleanup } = await make();
    const rec = new Recorder();
    try {
      await broker.run(rec);
      const marker = uniqueChannel('marker');
      let markers = 0;
      const ctx: BrokerCaseContext = {
        broker,
        rec,
        opts,
        waitPubs: (channel, n) => rec.waitFor(() => rec.pubs(channel).length >= n, opts.deliveryTimeoutMs, `${n} publication(s) on ${channel}`),
        settle: async () => {
          if (markers === 0) await broker.subscribe(marker);
          markers++;
          await broker.publish(marker, bytes('marker'), {});
          await rec.waitFor(() => rec.pubs(marker).length >= markers, opts.deliveryTimeoutMs, 'the settle marker');
          await sleep(opts.settleMs);
        },
      };
      await fn(ctx);
    } finally {
      await broker.close();
      await cleanup?.();
    }
  };
}

/** Wraps a case body into a test function that gets a fresh running broker. */
export type CaseWrapper = (fn: (ctx: BrokerCaseContext) => Promise<void>) => () => Promise<void>;
