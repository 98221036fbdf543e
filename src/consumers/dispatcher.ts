/**
 * Turns one consumed message into one server API call. Command mode: the method comes from a
 * per-message attribute (a header, a column, a stream field), passed in the headers under the
 * method header's name, and the body is that method's JSON request; with no method attribute the
 * body is a `{"method", "payload"}` envelope whose payload may also be a JSON string. Publication
 * data mode: the body is the publication data and headers name the channel(s): one channel →
 * publish, several → broadcast.
 */
import type { ApiExecutor } from '../api/index.js';
import type { LogLimiter } from '../core/index.js';
import { ConsumerStats, type PublicationDataModeOptions } from './consumer.js';

/** What the transport does with the message: ack it, drop it (ack too) or keep it to retry later. */
export type DispatchOutcome = { kind: 'ok' } | { kind: 'drop'; reason: string } | { kind: 'retry'; reason: string };

export interface DispatcherOptions {
  /** Consumer name, for logs. */
  name: string;
  /** Name under which the message's method arrives in `headers` (matched case-insensitively). */
  methodHeader: string;
  publicationDataMode: PublicationDataModeOptions;
}

/** API error code of an internal server error: the message is retried, not dropped. */
const INTERNAL_ERROR = 100;

/** The API methods a consumed message may call; any other is skipped (and acknowledged). */
export const CONSUMER_METHODS: ReadonlySet<string> = new Set(['publish', 'broadcast', 'subscribe', 'unsubscribe', 'disconnect', 'history_remove', 'refresh']);

type Call = { method: string; params: unknown } | { drop: string } | { skip: string };

/** Boolean text as Go's strconv.ParseBool reads it; undefined when it is none. */
export function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function utf8(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class Dispatcher {
  /** Counters of this consumer (the consumer adds its status and connection failures). */
  readonly stats = new ConsumerStats();

  constructor(
    private readonly executor: ApiExecutor,
    private readonly opts: DispatcherOptions,
    private readonly log: LogLimiter,
  ) {}

  /** Name under which a method attribute is passed in `dispatch`'s headers. */
  get methodHeader(): string {
    return this.opts.methodHeader;
  }

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
      else if ('skip' in call) {
        this.log.log('info', { consumer: this.opts.name, reason: call.skip }, 'consumer skipped a message', `skip:${this.opts.name}`);
        outcome = { kind: 'ok' };
      } else outcome = await this.run(call.method, call.params);
    } catch (err) {
      outcome = { kind: 'retry', reason: err instanceof Error ? err.message : String(err) };
    }
    if (outcome.kind === 'drop') {
      this.stats.processed++;
      this.stats.fail(outcome.reason);
      this.log.log('warn', { consumer: this.opts.name, reason: outcome.reason }, 'consumer dropped a message it cannot run', `drop:${this.opts.name}`);
    } else if (outcome.kind === 'retry') {
      this.stats.fail(outcome.reason);
      this.log.log('error', { consumer: this.opts.name, reason: outcome.reason }, 'consumer message failed, will retry', `retry:${this.opts.name}`);
    } else {
      this.stats.processed++;
    }
    return outcome;
  }

  private async run(method: string, params: unknown): Promise<DispatchOutcome> {
    const reply = await this.executor.execute(method, params);
    if ('error' in reply) {
      if (reply.error.code === INTERNAL_ERROR) return { kind: 'retry', reason: `${method}: ${reply.error.message}` };
      return { kind: 'drop', reason: `${method}: API error ${reply.error.code} ${reply.error.message}` };
    }
    // A broadcast answers per channel: an internal error on any channel retries the message.
    const responses = isObject(reply.result) ? reply.result.responses : undefined;
    if (Array.isArray(responses)) {
      for (const r of responses) {
        if (isObject(r) && isObject(r.error) && r.error.code === INTERNAL_ERROR) return { kind: 'retry', reason: `${method}: ${String(r.error.message)}` };
      }
    }
    return { kind: 'ok' };
  }

  private commandCall(body: Uint8Array, headers: Map<string, string>): Call {
    const fromHeader = headers.get(this.opts.methodHeader.toLowerCase()) ?? '';
    let method = fromHeader;
    let params: unknown;
    try {
      params = JSON.parse(utf8(body));
    } catch {
      return { drop: `${method || 'message'}: body is not JSON` };
    }
    if (method === '') {
      // Envelope: {"method": "...", "payload": {...} or "<JSON text>"}.
      if (!isObject(params) || typeof params.method !== 'string' || params.method === '') return { drop: 'no method: neither a method attribute nor a {"method","payload"} envelope' };
      method = params.method;
      params = params.payload ?? {};
      if (typeof params === 'string') {
        try {
          params = JSON.parse(params);
        } catch {
          return { drop: `${method}: envelope payload string is not JSON` };
        }
      }
    }
    if (!CONSUMER_METHODS.has(method) || !this.executor.has(method)) return { skip: `method "${method}" is not run by consumers` };
    return { method, params };
  }

  private dataCall(body: Uint8Array, headers: Map<string, string>): Call {
    const m = this.opts.publicationDataMode;
    const channels = (headers.get(m.channelsHeader.toLowerCase()) ?? '')
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
    if (channels.length === 0) return { drop: `no channels in ${m.channelsHeader}` };
    const prefix = m.tagsHeaderPrefix.toLowerCase();
    let tags: Record<string, string> | undefined;
    if (prefix !== '') {
      for (const [k, v] of headers) {
        if (k.startsWith(prefix) && k.length > prefix.length) (tags ??= {})[k.slice(prefix.length)] = v;
      }
    }
    const idempotencyKey = headers.get(m.idempotencyKeyHeader.toLowerCase()) ?? '';
    const deltaText = headers.get(m.deltaHeader.toLowerCase());
    const delta = deltaText === undefined || deltaText === '' ? false : parseBool(deltaText);
    if (delta === undefined) return { drop: `${m.deltaHeader}: "${deltaText}" is not a boolean` };
    const versionText = headers.get(m.versionHeader.toLowerCase()) ?? '';
    if (versionText !== '' && !/^\d{1,20}$/.test(versionText)) return { drop: `${m.versionHeader}: "${versionText}" is not an unsigned integer` };
    const version = versionText === '' ? 0 : Number(versionText);
    if (!Number.isSafeInteger(version)) return { drop: `${m.versionHeader}: "${versionText}" is too large` };
    const versionEpoch = headers.get(m.versionEpochHeader.toLowerCase()) ?? '';
    const fields = {
      data: body,
      ...(tags ? { tags } : {}),
      ...(idempotencyKey ? { idempotency_key: idempotencyKey } : {}),
      ...(delta ? { delta: true } : {}),
      ...(version > 0 ? { version } : {}),
      ...(versionEpoch ? { version_epoch: versionEpoch } : {}),
    };
    if (channels.length === 1) return { method: 'publish', params: { channel: channels[0], ...fields } };
    return { method: 'broadcast', params: { channels, ...fields } };
  }
}
