/**
 * GRPC binding of the server API (server.md §4.7): the `CentrifugoApi` service of
 * proto/api.proto, run by the same ApiExecutor as the HTTP API. Requests arrive as
 * proto-loader objects (snake_case keys, bytes as Buffers), which the executor's JSON
 * readers accept as they are; results go back with raw JSON payloads turned into bytes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { ApiExecutor, ApiReply } from './executor.js';
import type { ApiErrorBody } from './errors.js';
import { RawJson } from './raw-json.js';

// The GRPC packages load on first use: a server without GRPC listeners never pays for them.
const require = createRequire(import.meta.url);
const grpcJs = (): typeof grpc => require('@grpc/grpc-js') as typeof grpc;

/** GRPC status codes used here (fixed by the GRPC protocol). */
export const GrpcStatus = Object.freeze({
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
});

/** Fully qualified name of the API service. */
export const GRPC_API_SERVICE = 'centrifugal.centrifugo.api.CentrifugoApi';

/** proto/api.proto of the installed package (this file compiles to dist/src/api/). */
export const apiProtoPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proto', 'api.proto');

/** How Gyre's GRPC services read proto files: wire names kept, 64-bit integers as numbers. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false };

/** Loads proto/api.proto (for the service and for reflection). */
export function loadApiProto(path = apiProtoPath): protoLoader.PackageDefinition {
  return (require('@grpc/proto-loader') as typeof protoLoader).loadSync(path, PROTO_LOADER_OPTIONS);
}

export interface GrpcApiOptions {
  /** `grpc_api.key`: when non-empty, metadata `authorization: apikey <key>` is required. */
  key: string;
  /** `transport`: API errors become GRPC statuses instead of `error` fields. */
  errorMode?: '' | 'transport';
}

/** What a request deserializer returns for bytes that are not the request message. */
const MALFORMED: unique symbol = Symbol('malformed');

/** The executor's method name for a GRPC method name: `PresenceStats` → `presence_stats`, `RPC` → `rpc`. */
export function apiMethodName(grpcName: string): string {
  return grpcName.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase();
}

/**
 * A result object as the GRPC response message wants it: RawJson payloads become their
 * bytes, and binary publication data (`b64data` in JSON results) becomes `data` bytes.
 */
export function resultToGrpc(value: unknown): unknown {
  if (value instanceof RawJson) return Buffer.from(value.json, 'utf8');
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(resultToGrpc);
  if (value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (k === 'b64data' && typeof v === 'string') {
      out.data ??= Buffer.from(v, 'base64');
      continue;
    }
    Object.defineProperty(out, k, { value: resultToGrpc(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The response message of one executor reply (`batch` answers its result, `{replies}`, bare). */
export function replyToGrpc(method: string, reply: ApiReply): Record<string, unknown> {
  if ('error' in reply) return { error: reply.error };
  const result = resultToGrpc(reply.result) as Record<string, unknown>;
  return method === 'batch' ? result : { result };
}

/** GRPC status code of an API error in transport error mode (server.md §4.2). */
export function apiErrorGrpcCode(code: number): number {
  switch (code) {
    case 102:
    case 104:
      return GrpcStatus.NOT_FOUND;
    case 107:
    case 108:
      return GrpcStatus.INVALID_ARGUMENT;
    case 112:
      return GrpcStatus.OUT_OF_RANGE;
    case 113:
      return GrpcStatus.ALREADY_EXISTS;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/**
 * `grpc-status-details-bin` for an API error: a google.rpc.Status {code, message, details}
 * whose one detail is the `Error` message, as Go GRPC servers attach it.
 */
export function statusDetails(grpcCode: number, err: ApiErrorBody): Buffer {
  const errorMsg = Buffer.concat([tag(1, 0), varint(err.code), lenField(2, Buffer.from(err.message, 'utf8'))]);
  const any = Buffer.concat([lenField(1, Buffer.from('type.googleapis.com/centrifugal.centrifugo.api.Error', 'utf8')), lenField(2, errorMsg)]);
  return Buffer.concat([tag(1, 0), varint(grpcCode), lenField(2, Buffer.from(err.message, 'utf8')), lenField(3, any)]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function tag(field: number, wire: number): Buffer {
  return varint((field << 3) | wire);
}

function lenField(field: number, body: Buffer): Buffer {
  return Buffer.concat([tag(field, 2), varint(body.length), body]);
}

/**
 * Adds the CentrifugoApi service to a GRPC server, every method run by `exec` (whose
 * `protocol` should be `grpc` for metrics). Methods the executor does not serve answer
 * UNIMPLEMENTED; request bytes that do not decode answer INVALID_ARGUMENT.
 */
export function addGrpcApiService(server: grpc.Server, exec: ApiExecutor, opts: GrpcApiOptions, pkg = loadApiProto()): void {
  const service = pkg[GRPC_API_SERVICE] as grpc.ServiceDefinition | undefined;
  if (!service) throw new Error(`${GRPC_API_SERVICE} missing from the API proto`);
  const keyDigest = opts.key === '' ? undefined : digest(`apikey ${opts.key}`);
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [grpcName, m] of Object.entries(service)) {
    const decode = m.requestDeserialize;
    // Decode failures become a marker the handler answers, not grpc-js's INTERNAL.
    definition[grpcName] = {
      ...m,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch {
          return MALFORMED;
        }
      },
    };
    const method = apiMethodName(grpcName);
    const served = exec.has(method);
    handlers[grpcName] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
      if (keyDigest && !authorized(call.metadata, keyDigest)) {
        callback({ code: GrpcStatus.UNAUTHENTICATED, details: 'unauthenticated' });
        return;
      }
      if (!served) {
        callback({ code: GrpcStatus.UNIMPLEMENTED, details: `method ${grpcName} not implemented` });
        return;
      }
      if (call.request === MALFORMED) {
        callback({ code: GrpcStatus.INVALID_ARGUMENT, details: 'malformed request message' });
        return;
      }
      exec.execute(method, call.request).then(
        (reply) => {
          if ('error' in reply && method !== 'batch' && transportMode(opts, call.metadata)) {
            const code = apiErrorGrpcCode(reply.error.code);
            const trailer = new (grpcJs().Metadata)();
            trailer.set('grpc-status-details-bin', statusDetails(code, reply.error));
            callback({ code, details: reply.error.message, metadata: trailer });
            return;
          }
          callback(null, replyToGrpc(method, reply));
        },
        (err: unknown) => callback({ code: GrpcStatus.INTERNAL, details: err instanceof Error ? err.message : 'internal error' }),
      );
    };
  }
  server.addService(definition, handlers);
}

function transportMode(opts: GrpcApiOptions, md: grpc.Metadata): boolean {
  return opts.errorMode === 'transport' || md.get('x-centrifugo-error-mode')[0] === 'transport';
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The first `authorization` value equals `apikey <key>`, compared in constant time over digests. */
function authorized(md: grpc.Metadata, keyDigest: Buffer): boolean {
  const v = md.get('authorization')[0];
  if (typeof v !== 'string') return false;
  return timingSafeEqual(digest(v), keyDigest);
}
