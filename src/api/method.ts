/**
 * The contract every server API method implements: decode a JSON request body into a typed
 * request (shape only), then run it against the node (semantics, node calls, result building).
 */
import type { NodeApi } from '../core/index.js';
import type { ApiErrorBody } from './errors.js';

/** Structured logger the API reports to (pino-compatible subset). */
export interface ApiLogger {
  /** For what clients trigger (aborted requests); loggers without it drop those lines. */
  debug?(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Methods by name, as the executor holds them. */
export type MethodRegistry = ReadonlyMap<string, ApiMethod<unknown>>;

/** What a running method may use. */
export interface MethodContext {
  readonly node: NodeApi;
  readonly logger: ApiLogger | undefined;
  readonly registry: MethodRegistry;
  /**
   * Maps anything a method or the node threw to the API error to reply with. Internal errors
   * (everything but ApiError and ProtocolError 102/107/108/112) are logged here, once.
   */
  fail(err: unknown, method: string, fields?: object): ApiErrorBody;
}

/**
 * One server API method. `decode` throws DecodeError when the body does not fit the request
 * type; `run` throws ApiError for API-level failures and lets node errors through to `fail`.
 * The result object uses wire snake_case; RawJson values are embedded raw by encodeJson.
 */
export interface ApiMethod<Req> {
  readonly name: string;
  decode(params: unknown, registry: MethodRegistry): Req;
  run(ctx: MethodContext, req: Req): Promise<object>;
}
