/**
 * Runs server API methods by name against a node. Transport bindings (HTTP, GRPC, admin) hand
 * it parsed JSON bodies and encode its replies with encodeJson.
 */
import { EventEmitter } from 'node:events';
import type { NodeApi } from '../core/index.js';
import { ApiErrors, toApiError, type ApiErrorBody } from './errors.js';
import { DecodeError } from './decode.js';
import type { ApiLogger, ApiMethod, MethodContext, MethodRegistry } from './method.js';
import { publish } from './methods/publish.js';
import { broadcast } from './methods/broadcast.js';
import { subscribe } from './methods/subscribe.js';
import { unsubscribe } from './methods/unsubscribe.js';
import { disconnect } from './methods/disconnect.js';
import { refresh } from './methods/refresh.js';
import { presence } from './methods/presence.js';
import { presenceStats } from './methods/presence-stats.js';
import { history } from './methods/history.js';
import { historyRemove } from './methods/history-remove.js';
import { channels } from './methods/channels.js';
import { info } from './methods/info.js';
import { rpc } from './methods/rpc.js';
import { batch } from './methods/batch.js';
import { mapClear, mapPublish, mapReadState, mapReadStream, mapRemove, mapStats } from './methods/map.js';
import { sharedPollPublish } from './methods/shared-poll.js';

/** One method's outcome: a result object (may hold RawJson values) or an API error. */
export type ApiReply = { result: object } | { error: ApiErrorBody };

/**
 * A request checked against its method before running: runnable, naming no known method, or
 * with a body that does not fit the method's request type.
 */
export type PreparedApiCall =
  | { kind: 'call'; run(): Promise<ApiReply> }
  | { kind: 'unknown_method' }
  | { kind: 'bad_request' };

export interface ApiExecutorOptions {
  logger?: ApiLogger;
  /** The `protocol` of emitted call events (`http`, `grpc`, `consuming`); default `http`. */
  protocol?: string;
}

/**
 * Emitted as `call` on ApiExecutor.events after every method run (metrics and logs listen):
 * `error` is the API error code replied, absent on success.
 */
export interface ApiCallEvent {
  protocol: string;
  method: string;
  durationMs: number;
  error?: number;
}

const ALL_METHODS: ApiMethod<unknown>[] = [
  publish,
  broadcast,
  subscribe,
  unsubscribe,
  disconnect,
  refresh,
  presence,
  presenceStats,
  history,
  historyRemove,
  channels,
  info,
  rpc,
  batch,
  mapPublish,
  mapRemove,
  mapReadState,
  mapReadStream,
  mapStats,
  mapClear,
  sharedPollPublish,
];

/** Executes server API methods. Never throws: every failure becomes an `error` reply. */
export class ApiExecutor {
  private readonly registry: MethodRegistry;
  private readonly ctx: MethodContext;
  private readonly protocol: string;
  /** Emits `call` (ApiCallEvent) after each method run. */
  readonly events = new EventEmitter();

  constructor(node: NodeApi, opts: ApiExecutorOptions = {}) {
    const logger = opts.logger;
    // The same failure repeating (a broker outage under load) is logged once per window, with a count.
    const lastLogged = new Map<string, { at: number; suppressed: number }>();
    const logWindowMs = 10_000;
    this.protocol = opts.protocol ?? 'http';
    this.events.setMaxListeners(0);
    this.registry = new Map(ALL_METHODS.map((m) => [m.name, m]));
    this.ctx = {
      node,
      logger,
      registry: this.registry,
      fail(err, method, fields) {
        const { error, internal } = toApiError(err);
        if (internal && logger) {
          const key = `${method}\u0000${err instanceof Error ? err.message : String(err)}`;
          const now = Date.now();
          const seen = lastLogged.get(key);
          if (seen && now - seen.at < logWindowMs) seen.suppressed++;
          else {
            logger.error({ ...fields, method, err, ...(seen?.suppressed ? { repeated: seen.suppressed } : {}) }, 'server API call failed');
            lastLogged.set(key, { at: now, suppressed: 0 });
            if (lastLogged.size > 1000) lastLogged.clear();
          }
        }
        return error.toBody();
      },
    };
  }

  /** Method names this executor serves, `batch` included. */
  get methods(): string[] {
    return [...this.registry.keys()];
  }

  /** True when `method` names a method this executor serves. */
  has(method: string): boolean {
    return this.registry.has(method);
  }

  /** Validates the body's shape for `method` without running anything. */
  prepare(method: string, params: unknown): PreparedApiCall {
    const m = this.registry.get(method);
    if (!m) return { kind: 'unknown_method' };
    let req: unknown;
    try {
      req = m.decode(params, this.registry);
    } catch (err) {
      this.emitCall(method, 0, ApiErrors.badRequest.code);
      if (err instanceof DecodeError) return { kind: 'bad_request' };
      this.ctx.fail(err, method);
      return { kind: 'bad_request' };
    }
    return { kind: 'call', run: () => this.runDecoded(m, req) };
  }

  /** Runs a method. Unknown method → 104, body of the wrong shape → 107. */
  execute(method: string, params: unknown): Promise<ApiReply> {
    const call = this.prepare(method, params);
    if (call.kind === 'unknown_method') return Promise.resolve({ error: ApiErrors.notFound.toBody() });
    if (call.kind === 'bad_request') return Promise.resolve({ error: ApiErrors.badRequest.toBody() });
    return call.run();
  }

  private async runDecoded(m: ApiMethod<unknown>, req: unknown): Promise<ApiReply> {
    const started = performance.now();
    try {
      const result = await m.run(this.ctx, req);
      this.emitCall(m.name, performance.now() - started);
      return { result };
    } catch (err) {
      const error = this.ctx.fail(err, m.name);
      this.emitCall(m.name, performance.now() - started, error.code);
      return { error };
    }
  }

  private emitCall(method: string, durationMs: number, error?: number): void {
    if (this.events.listenerCount('call') === 0) return;
    const e: ApiCallEvent = { protocol: this.protocol, method, durationMs };
    if (error !== undefined) e.error = error;
    this.events.emit('call', e);
  }
}
