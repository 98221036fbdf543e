/**
 * Test support for the core unit tests: an in-memory bidirectional JSON transport that records
 * what the core writes, the disconnect it closes with and, when made pausable, each
 * pauseReading call; and a polling wait for conditions the core reaches asynchronously.
 */
import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';
import type { Transport } from './transport.js';

export interface MemoryTransportOptions {
  /** Give the transport a pauseReading that records each call in `pauses` (default: none). */
  pausable?: boolean;
  /** The protocol the session speaks (default json). */
  protocol?: ProtocolType;
  /** A unidirectional transport: bare pushes (default false). */
  unidirectional?: boolean;
}

/** A Transport that keeps everything written to it (as text and as bytes); nothing leaves the process. */
export class MemoryTransport implements Transport {
  readonly name = 'test';
  readonly protocol: ProtocolType;
  readonly unidirectional: boolean;
  readonly emulation = false;
  readonly appLevelPing = true;
  readonly disconnectPush = false;
  /** Every written item as text, in order. */
  readonly frames: string[] = [];
  /** Every written item, in order. */
  readonly items: Uint8Array[] = [];
  /** The items of each writeItems call as text: one entry per call. */
  readonly writes: string[][] = [];
  /** What bufferedBytes() reports; tests set it to simulate an unsent backlog. */
  backlog = 0;
  /** The disconnect of the last close(), undefined while open. */
  closed: Disconnect | undefined;
  /** Arguments of each pauseReading call, in order (pausable transports only). */
  readonly pauses: boolean[] = [];
  /** Present only on a pausable transport, as on real transports that cannot stop reading. */
  readonly pauseReading: ((pause: boolean) => void) | undefined;

  constructor(opts: MemoryTransportOptions = {}) {
    this.protocol = opts.protocol ?? 'json';
    this.unidirectional = opts.unidirectional ?? false;
    this.pauseReading = opts.pausable ? (pause) => void this.pauses.push(pause) : undefined;
  }

  writeItems(items: Uint8Array[]): void {
    const texts = items.map((i) => Buffer.from(i).toString());
    this.writes.push(texts);
    this.frames.push(...texts);
    this.items.push(...items);
  }

  bufferedBytes(): number {
    return this.backlog;
  }

  close(d: Disconnect): void {
    this.closed = d;
  }
}

/** Polls `cond` every few milliseconds; rejects if it is still false after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
