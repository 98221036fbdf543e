/**
 * Clients for the streaming HTTP transports, built on fetch: a tiny SSE parser, an
 * EventSource look-alike for the SDK (Node 20 has no EventSource), and a raw stream reader
 * that collects JSON messages from JSON-lines or SSE responses for protocol-level checks.
 */

/** Incremental `text/event-stream` parser: calls onData with each event's data. */
export class SseParser {
  private buf = '';
  private data: string[] = [];

  constructor(private readonly onData: (data: string) => void) {}

  push(text: string): void {
    this.buf += text;
    for (;;) {
      const nl = this.buf.search(/[\r\n]/);
      if (nl < 0) return;
      // A lone '\r' at the end may be the first half of "\r\n": wait for the next chunk.
      if (this.buf[nl] === '\r' && nl === this.buf.length - 1) return;
      const line = this.buf.slice(0, nl);
      const skip = this.buf[nl] === '\r' && this.buf[nl + 1] === '\n' ? 2 : 1;
      this.buf = this.buf.slice(nl + skip);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onData(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
  }
}

/**
 * The part of the browser EventSource the SDK uses (onopen, onmessage, onerror, close),
 * over fetch. An ended stream reports an error and stays closed (the SDK reconnects itself).
 */
export class FetchEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = FetchEventSource.CONNECTING;
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  private readonly abort = new AbortController();

  constructor(readonly url: string, _init?: unknown) {
    void this.run();
  }

  /** Headers sent with the stream request besides `accept` (a subclass adds a browser's cookie). */
  protected extraHeaders(): Record<string, string> {
    return {};
  }

  private async run(): Promise<void> {
    try {
      const res = await fetch(this.url, { headers: { ...this.extraHeaders(), accept: 'text/event-stream' }, signal: this.abort.signal });
      if (!res.ok || !res.body) throw new Error(`status ${res.status}`);
      this.readyState = FetchEventSource.OPEN;
      this.onopen?.(new Event('open'));
      const parser = new SseParser((data) => {
        if (this.readyState === FetchEventSource.OPEN) this.onmessage?.(new MessageEvent('message', { data }));
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body) parser.push(decoder.decode(chunk as Uint8Array, { stream: true }));
      throw new Error('stream ended');
    } catch {
      if (this.readyState === FetchEventSource.CLOSED) return;
      this.readyState = FetchEventSource.CLOSED;
      this.onerror?.(new Event('error'));
    }
  }

  close(): void {
    this.readyState = FetchEventSource.CLOSED;
    this.abort.abort();
  }
}

/** A streaming response read as JSON messages (one per line, or one per SSE event). */
export class StreamClient {
  readonly messages: any[] = [];
  /** Raw text as received. */
  text = '';
  ended = false;
  readonly done: Promise<void>;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly response: Response,
    private readonly abort: AbortController,
    kind: 'lines' | 'sse',
  ) {
    const parse = (s: string): void => {
      this.messages.push(JSON.parse(s));
      this.notify();
    };
    const sse = new SseParser(parse);
    let lineBuf = '';
    this.done = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body as any as AsyncIterable<Uint8Array>) {
          const t = decoder.decode(chunk, { stream: true });
          this.text += t;
          if (kind === 'sse') {
            sse.push(t);
            continue;
          }
          lineBuf += t;
          let nl: number;
          while ((nl = lineBuf.indexOf('\n')) >= 0) {
            const line = lineBuf.slice(0, nl);
            lineBuf = lineBuf.slice(nl + 1);
            if (line.trim() !== '') parse(line);
          }
        }
      } catch {
        // Aborted by close() or reset by the server: the stream is over either way.
      }
      this.ended = true;
      this.notify();
    })();
  }

  /** Opens a stream; resolves once the response headers arrived (any status). */
  static async open(url: string, init: RequestInit, kind: 'lines' | 'sse'): Promise<StreamClient> {
    const abort = new AbortController();
    const response = await fetch(url, { ...init, signal: abort.signal });
    return new StreamClient(response, abort, kind);
  }

  get status(): number {
    return this.response.status;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until pick returns a value; rejects when the stream ends first or on timeout. */
  waitUntil<T>(pick: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = pick();
        if (v !== undefined) {
          finish();
          resolve(v);
        } else if (this.ended) {
          finish();
          reject(new Error(`stream ended while waiting for ${what}; got ${JSON.stringify(this.messages).slice(0, 2000)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.messages).slice(0, 2000)}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The first message matching pred. */
  message(pred: (m: any) => boolean, what: string, timeoutMs = 5000): Promise<any> {
    return this.waitUntil(() => this.messages.find(pred), what, timeoutMs);
  }

  /** Resolves when the server ended the stream; rejects after the timeout. */
  async waitEnd(timeoutMs = 5000): Promise<void> {
    await this.waitUntil(() => (this.ended ? true : undefined), 'end of stream', timeoutMs).catch((err: Error) => {
      if (!this.ended) throw err;
    });
  }

  /** Aborts the request from the client side. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}
