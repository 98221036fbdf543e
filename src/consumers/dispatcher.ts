/**
 * Turns one consumed message into one server API call. Command mode: the method comes from a
 * header and the body is the method's JSON params. Publication data mode: the body is the
 * publication data, a header names the channel(s): one channel → publish, several → broadcast.
 */
import type { ApiExecutor } from '../api/index.js';
import type { LogLimiter } from '../core/index.js';
import type { PublicationDataModeOptions } from './consumer.js';

/** What the transport does with the message: ack it, drop it (ack too) or requeue it later. */
export type DispatchOutcome = { kind: 'ok' } | { kind: 'drop'; reason: string } | { kind: 'retry'; reason: string };

export interface DispatcherOptions {
  /** Consumer name, for logs. */
  name: string;
  methodHeader: string;
  publicationDataMode: PublicationDataModeOptions;
}

/** API error code of an internal server error: the message is retried, not dropped. */
const INTERNAL_ERROR = 100;

export class Dispatcher {
  constructor(
    private readonly executor: ApiExecutor,
    private readonly opts: DispatcherOptions,
    private readonly log: LogLimiter,
  ) {}

  /**
   * Runs the message. `headers` are looked up case-insensitively. Never throws: a thrown
   * error is an internal failure (retry).
   */
  async dispatch(body: Uint8Array, headers: Readonly<Record<string, string>>): Promise<DispatchOutcome> {
    const lower = new Map<string, string>();
    for (const [k, v] of Object.entries(headers)) lower.set(k.toLowerCase(), v);
    let outcome: DispatchOutcome;
    try {
      const call = this.opts.publicationDataMode.enabled ? this.dataCall(body, lower) : this.commandCall(body, lower);
      if ('drop' in call) outcome = { kind: 'drop', reason: call.drop };
      else {
        const reply = await this.executor.execute(call.method, call.params);
        if ('result' in reply) outcome = { kind: 'ok' };
        else if (reply.error.code === INTERNAL_ERROR) outcome = { kind: 'retry', reason: `${call.method}: ${reply.error.message}` };
        else outcome = { kind: 'drop', reason: `${call.method}: API error ${reply.error.code} ${reply.error.message}` };
      }
    } catch (err) {
      outcome = { kind: 'retry', reason: err instanceof Error ? err.message : String(err) };
    }
    if (outcome.kind === 'drop') {
      this.log.log('warn', { consumer: this.opts.name, reason: outcome.reason }, 'consumer dropped a message it cannot run', `drop:${this.opts.name}`);
    } else if (outcome.kind === 'retry') {
      this.log.log('error', { consumer: this.opts.name, reason: outcome.reason }, 'consumer message failed, will retry', `retry:${this.opts.name}`);
    }
    return outcome;
  }

  private commandCall(body: Uint8Array, headers: Map<string, string>): { method: string; params: unknown } | { drop: string } {
    const method = headers.get(this.opts.methodHeader.toLowerCase()) ?? '';
    if (method === '') return { drop: `no ${this.opts.methodHeader} header` };
    if (!this.executor.has(method)) return { drop: `unknown method "${method}"` };
    let params: unknown;
    try {
      params = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    } catch {
      return { drop: `${method}: body is not JSON` };
    }
    return { method, params };
  }

  private dataCall(body: Uint8Array, headers: Map<string, string>): { method: string; params: unknown } | { drop: string } {
    const m = this.opts.publicationDataMode;
    const channels = (headers.get(m.channelsHeader.toLowerCase()) ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
    if (channels.length === 0) return { drop: `no channels in ${m.channelsHeader} header` };
    const prefix = m.tagsHeaderPrefix.toLowerCase();
    let tags: Record<string, string> | undefined;
    if (prefix !== '') {
      for (const [k, v] of headers) {
        if (k.startsWith(prefix) && k.length > prefix.length) (tags ??= {})[k.slice(prefix.length)] = v;
      }
    }
    const idempotencyKey = headers.get(m.idempotencyKeyHeader.toLowerCase()) ?? '';
    const delta = headers.get(m.deltaHeader.toLowerCase()) === 'true';
    const fields = {
      data: body,
      ...(tags ? { tags } : {}),
      ...(idempotencyKey ? { idempotency_key: idempotencyKey } : {}),
      ...(delta ? { delta: true } : {}),
    };
    if (channels.length === 1) return { method: 'publish', params: { channel: channels[0], ...fields } };
    return { method: 'broadcast', params: { channels, ...fields } };
  }
}
