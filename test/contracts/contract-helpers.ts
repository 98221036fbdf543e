/**
 * Shared pieces of the port contract suites: unique channel names, byte helpers, and a recording
 * BrokerEventHandler that tests can wait on (deliveries may be asynchronous in external brokers).
 */
import { randomBytes } from 'node:crypto';
import type { BrokerEventHandler, BrokerPublication, StreamPosition } from '../../src/core/ports.js';
import type { ClientInfo } from '../../src/protocol/types.js';

/** A channel name no other test (or other process sharing a server) will use. */
export function uniqueChannel(label: string): string {
  return `gyre_contract_${label}_${randomBytes(6).toString('hex')}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Payload bytes as text; works for Uint8Array and Buffer alike. */
export function text(data: Uint8Array | undefined): string | undefined {
  return data === undefined ? undefined : decoder.decode(data);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type RecordedEvent =
  | { kind: 'pub'; channel: string; pub: BrokerPublication; position: StreamPosition; delta: boolean; prev?: BrokerPublication }
  | { kind: 'join' | 'leave'; channel: string; info: ClientInfo };

export type RecordedPub = Extract<RecordedEvent, { kind: 'pub' }>;

/** Records every broker event in arrival order and lets tests await a condition on them. */
export class Recorder implements BrokerEventHandler {
  readonly events: RecordedEvent[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  handlePublication(channel: string, pub: BrokerPublication, position: StreamPosition, delta: boolean, prev?: BrokerPublication): void {
    const event: RecordedPub = { kind: 'pub', channel, pub, position: { ...position }, delta };
    if (prev !== undefined) event.prev = prev;
    this.push(event);
  }

  handleJoin(channel: string, info: ClientInfo): void {
    this.push({ kind: 'join', channel, info });
  }

  handleLeave(channel: string, info: ClientInfo): void {
    this.push({ kind: 'leave', channel, info });
  }

  /** Publications delivered for one channel, in arrival order. */
  pubs(channel: string): RecordedPub[] {
    return this.events.filter((e): e is RecordedPub => e.kind === 'pub' && e.channel === channel);
  }

  /** Everything delivered for one channel, in arrival order. */
  on(channel: string): RecordedEvent[] {
    return this.events.filter((e) => e.channel === channel);
  }

  /** Resolves once `check` holds; rejects after timeoutMs with `what` in the message. */
  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  private push(event: RecordedEvent): void {
    this.events.push(event);
    const ready = this.waiters.filter((w) => w.check());
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}
