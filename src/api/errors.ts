/**
 * Server API error table (server.md §4.2). It shares numbers with the client protocol table
 * but not all messages (104 is "not found" here, 113 "conflict"), so it is kept separate.
 */
import { ProtocolError } from '../protocol/index.js';

/** The wire shape of an API error: `{"code":102,"message":"unknown channel"}`. */
export interface ApiErrorBody {
  code: number;
  message: string;
}

/** An API-level error a method reports to the caller; thrown inside methods, caught by the executor. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  toBody(): ApiErrorBody {
    return { code: this.code, message: this.message };
  }
}

const e = (code: number, message: string) => Object.freeze(new ApiError(code, message));

/** The frozen server API error table. */
export const ApiErrors = Object.freeze({
  internal: e(100, 'internal server error'),
  unknownChannel: e(102, 'unknown channel'),
  notFound: e(104, 'not found'),
  badRequest: e(107, 'bad request'),
  notAvailable: e(108, 'not available'),
  unrecoverablePosition: e(112, 'unrecoverable position'),
  conflict: e(113, 'conflict'),
});

/** Client-protocol codes a node may throw that keep their number in the API (with the API message). */
const passThrough = new Map<number, ApiError>([
  [102, ApiErrors.unknownChannel],
  [107, ApiErrors.badRequest],
  [108, ApiErrors.notAvailable],
  [112, ApiErrors.unrecoverablePosition],
]);

/**
 * Maps anything thrown while running a method to an API error. ApiError passes as is; a
 * ProtocolError with code 102/107/108/112 becomes the API error of that code; an error marked
 * `rejectsInput: true` (a broker refusing the payload, key or channel) is a bad request (107);
 * everything else is internal (100) and `internal` is true so the caller logs it.
 */
export function toApiError(err: unknown): { error: ApiError; internal: boolean } {
  if (err instanceof ApiError) return { error: err, internal: false };
  if (err instanceof ProtocolError) {
    const mapped = passThrough.get(err.code);
    if (mapped) return { error: mapped, internal: false };
  }
  // A port that refuses the request itself (a broker refusing a payload, key or channel) marks it.
  if (typeof err === 'object' && err !== null && (err as { rejectsInput?: unknown }).rejectsInput === true) return { error: ApiErrors.badRequest, internal: false };
  return { error: ApiErrors.internal, internal: true };
}

/** HTTP status for an API error in transport error mode (§4.2, §4.3). */
export function apiErrorHttpStatus(code: number): number {
  switch (code) {
    case 100:
      return 500;
    case 102:
    case 104:
      return 404;
    case 107:
    case 108:
      return 400;
    case 112:
      return 416;
    case 113:
      return 409;
    default:
      return 500;
  }
}
