/**
 * Builds the backend proxies the configuration names: HTTP(S) endpoints get an HttpProxy;
 * other endpoints (GRPC) are not served yet, and their hooks answer 108.
 */
import { parseDuration } from '../config/duration.js';
import { HttpProxy, type HttpProxyOptions, type HttpStatusTransform } from '../proxy/index.js';
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

/** The HTTP proxy for a config block, or undefined for an endpoint that is not HTTP(S). */
export function createProxy(block: ProxyBlock, name: string): HookProxy | undefined {
  const endpoint = block.endpoint ?? '';
  if (!/^https?:\/\//i.test(endpoint)) return undefined;
  const http = (block.http ?? {}) as Record<string, any>;
  const tls = (http.tls ?? {}) as Record<string, any>;
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
  if (tls.enabled) {
    opts.tls = {
      ca: tls.server_ca_pem || undefined,
      cert: tls.cert_pem || undefined,
      key: tls.key_pem || undefined,
      servername: tls.server_name || undefined,
      rejectUnauthorized: !tls.insecure_skip_verify,
    };
  }
  return new HttpProxy(opts);
}
