/**
 * Builds the backend proxies the configuration names: HTTP(S) endpoints get an HttpProxy,
 * any other endpoint (`grpc://host:port`, `host:port`) a GrpcProxy.
 */
import { tlsConnectionOptions, type TlsBlock } from '../brokers/tls.js';
import { parseDuration } from '../config/duration.js';
import { GrpcProxy, type GrpcProxyOptions, HttpProxy, type HttpProxyOptions, type HttpStatusTransform } from '../proxy/index.js';
import type { HookProxy, ProxyBlock } from './proxy-bindings.js';

const DEFAULT_TIMEOUT_MS = 1000;

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function record(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function proxyTimeoutMs(v: unknown): number {
  if (typeof v === 'number' && v > 0) return v;
  if (typeof v === 'string' && v !== '') return parseDuration(v);
  return DEFAULT_TIMEOUT_MS;
}

function transforms(v: unknown): HttpStatusTransform[] {
  if (!Array.isArray(v)) return [];
  return v.map((t: Record<string, any>) => ({
    statusCode: Number(t.status_code ?? 0),
    toError: t.to_error ? { code: Number(t.to_error.code ?? 0), message: String(t.to_error.message ?? ''), temporary: !!t.to_error.temporary } : undefined,
    toDisconnect: t.to_disconnect ? { code: Number(t.to_disconnect.code ?? 0), reason: String(t.to_disconnect.reason ?? '') } : undefined,
  }));
}

/** Client TLS of a [TLS] block (PEM fields as raw PEM, base64 PEM or a path); undefined when off. */
function clientTls(block: unknown): { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized: boolean } | undefined {
  const t = tlsConnectionOptions(block as TlsBlock | undefined);
  if (!t) return undefined;
  return {
    ca: typeof t.ca === 'string' ? t.ca : undefined,
    cert: typeof t.cert === 'string' ? t.cert : undefined,
    key: typeof t.key === 'string' ? t.key : undefined,
    servername: t.servername,
    rejectUnauthorized: t.rejectUnauthorized !== false,
  };
}

/** The GRPC proxy for a block whose endpoint is not an http(s) URL. */
function createGrpcProxy(block: ProxyBlock, name: string): GrpcProxy {
  const grpc = (block.grpc ?? {}) as Record<string, any>;
  const opts: GrpcProxyOptions = {
    name,
    endpoint: block.endpoint ?? '',
    timeoutMs: proxyTimeoutMs(block.timeout),
    httpHeaders: strings(block.http_headers),
    grpcMetadata: strings(block.grpc_metadata),
    emulatedHeaders: strings(block.emulated_headers),
    staticMetadata: record(grpc.static_metadata),
    credentialsKey: typeof grpc.credentials_key === 'string' ? grpc.credentials_key : undefined,
    credentialsValue: typeof grpc.credentials_value === 'string' ? grpc.credentials_value : undefined,
    compression: !!grpc.compression,
    binaryEncoding: !!block.binary_encoding,
    includeConnectionMeta: !!block.include_connection_meta,
  };
  const tls = clientTls(grpc.tls);
  if (tls) opts.tls = tls;
  return new GrpcProxy(opts);
}

/** The proxy for a config block: HTTP for http(s):// endpoints, GRPC for any other. */
export function createProxy(block: ProxyBlock, name: string): HookProxy | undefined {
  const endpoint = block.endpoint ?? '';
  if (endpoint === '') return undefined;
  if (!/^https?:\/\//i.test(endpoint)) return createGrpcProxy(block, name);
  const http = (block.http ?? {}) as Record<string, any>;
  const opts: HttpProxyOptions = {
    name,
    endpoint,
    timeoutMs: proxyTimeoutMs(block.timeout),
    httpHeaders: strings(block.http_headers),
    emulatedHeaders: strings(block.emulated_headers),
    staticHeaders: record(http.static_headers),
    binaryEncoding: !!block.binary_encoding,
    includeConnectionMeta: !!block.include_connection_meta,
    statusToCodeTransforms: transforms(http.status_to_code_transforms),
  };
  const tls = clientTls(http.tls);
  if (tls) opts.tls = tls;
  return new HttpProxy(opts);
}
