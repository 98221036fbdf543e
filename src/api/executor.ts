/**
 * Runs server API methods by name against a node. Transport bindings (HTTP, GRPC, admin) hand
 * it parsed JSON bodies and encode its replies with encodeJson.
 */
import type { NodeApi } from '../core/node-api.js';
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
];

/** Executes server API methods. Never throws: every failure becomes an `error` reply. */
export class ApiExecutor {
  private readonly registry: MethodRegistry;
  private readonly ctx: MethodContext;

  constructor(node: NodeApi, opts: ApiExecutorOptions = {}) {
    const logger = opts.logger;
    this.registry = new Map(ALL_METHODS.map((m) => [m.name, m]));
    this.ctx = {
      node,
      logger,
      registry: this.registry,
      fail(err, method, fields) {
        const { error, internal } = toApiError(err);
        if (internal) logger?.error({ ...fields, method, err }, 'server API call failed');
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
    try {
      return { result: await m.run(this.ctx, req) };
    } catch (err) {
      return { error: this.ctx.fail(err, m.name) };
    }
  }
}
