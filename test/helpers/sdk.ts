/**
 * The official `centrifuge` SDK in both builds (JSON and Protobuf) over the `ws`
 * WebSocket implementation, plus a registry that disconnects every client a test made.
 */
import { Centrifuge, type Options, type Subscription, type SubscriptionOptions } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { FetchEventSource } from './streams.js';
import { ReadableStream } from 'node:stream/web';
import WebSocket from 'ws';
import { waitEvent } from './wait.js';

export type Protocol = 'json' | 'protobuf';

/** Both SDK builds share one API; the Protobuf one is typed as the JSON one. */
export const sdkBuilds: Record<Protocol, typeof Centrifuge> = {
  json: Centrifuge,
  protobuf: CentrifugeProtobuf as unknown as typeof Centrifuge,
};

/**
 * A JSON SDK client over HTTP-streaming (commands through /emulation) whose every request
 * carries `cookie`, as a browser's would; `opts` adds SDK options (emulated `headers`, ...).
 */
export function cookieHttpStreamClient(base: string, cookie: string, opts: Partial<Options> = {}): Centrifuge {
  const cookieFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), cookie } });
  const c = new Centrifuge([{ transport: 'http_stream', endpoint: `${base}/connection/http_stream` }], {
    fetch: cookieFetch,
    readableStream: ReadableStream,
    emulationEndpoint: `${base}/emulation`,
    minReconnectDelay: 100,
    maxReconnectDelay: 300,
    ...opts,
  } as Partial<Options>);
  c.on('error', () => undefined);
  return c;
}

/** Like cookieHttpStreamClient, over bidirectional SSE: the event stream and /emulation carry `cookie`. */
export function cookieSseClient(base: string, cookie: string, opts: Partial<Options> = {}): Centrifuge {
  const cookieFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), cookie } });
  class CookieEventSource extends FetchEventSource {
    protected override extraHeaders(): Record<string, string> {
      return { cookie };
    }
  }
  const c = new Centrifuge([{ transport: 'sse', endpoint: `${base}/connection/sse` }], {
    fetch: cookieFetch,
    eventsource: CookieEventSource,
    emulationEndpoint: `${base}/emulation`,
    minReconnectDelay: 100,
    maxReconnectDelay: 300,
    ...opts,
  } as Partial<Options>);
  c.on('error', () => undefined);
  return c;
}

export type Client = Centrifuge;
export type Sub = Subscription;

/** Creates SDK clients for one server and protocol and tears them all down at the end. */
export class SdkClients {
  private readonly made: Centrifuge[] = [];

  constructor(
    private readonly wsUrl: string,
    readonly protocol: Protocol,
  ) {}

  /** A new, not yet connected client. Reconnect delays are short to keep tests fast. */
  make(opts: Partial<Options> = {}): Centrifuge {
    const Ctor = sdkBuilds[this.protocol];
    const c = new Ctor(this.wsUrl, {
      websocket: WebSocket,
      minReconnectDelay: 100,
      maxReconnectDelay: 300,
      ...opts,
    });
    // An 'error' listener keeps the SDK's emitter from throwing on unhandled errors.
    c.on('error', () => undefined);
    this.made.push(c);
    return c;
  }

  /** A client that is connected (resolves after its `connected` event). */
  async connected(opts: Partial<Options> = {}): Promise<Centrifuge> {
    const c = this.make(opts);
    const ready = waitEvent(c, 'connected');
    c.connect();
    await ready;
    return c;
  }

  closeAll(): void {
    for (const c of this.made.splice(0)) {
      try {
        c.disconnect();
      } catch {
        // Already gone.
      }
    }
  }
}

/** Creates and subscribes a subscription; resolves with it and its `subscribed` context. */
export async function subscribed(client: Centrifuge, channel: string, opts: SubscriptionOptions = {}): Promise<{ sub: Subscription; ctx: any }> {
  const sub = client.newSubscription(channel, opts);
  sub.on('error', () => undefined);
  const ready = waitEvent(sub, 'subscribed');
  sub.subscribe();
  return { sub, ctx: await ready };
}

/** Subscribes and resolves with the `unsubscribed` context (for permission failures). */
export async function subscribeFails(client: Centrifuge, channel: string, opts: SubscriptionOptions = {}): Promise<{ code: number; reason: string }> {
  const sub = client.newSubscription(channel, opts);
  sub.on('error', () => undefined);
  const ctx = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`subscription to ${channel} neither failed nor succeeded in 5 s`)), 5000);
    sub.on('subscribed', () => {
      clearTimeout(timer);
      reject(new Error(`subscription to ${channel} unexpectedly succeeded`));
    });
    sub.on('unsubscribed', (u) => {
      clearTimeout(timer);
      resolve(u);
    });
    sub.subscribe();
  });
  client.removeSubscription(sub);
  return ctx;
}

/** Subscribes and resolves with "subscribed" or "unsubscribed <code>", whichever comes first. */
export function subscribeOutcome(client: Centrifuge, channel: string, opts: SubscriptionOptions = {}): Promise<string> {
  const sub = client.newSubscription(channel, opts);
  sub.on('error', () => undefined);
  return new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('no outcome within 5 s'), 5000);
    sub.on('subscribed', () => {
      clearTimeout(timer);
      resolve('subscribed');
    });
    sub.on('unsubscribed', (u) => {
      clearTimeout(timer);
      resolve(`unsubscribed ${u.code}`);
    });
    sub.subscribe();
  });
}
