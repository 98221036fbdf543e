/**
 * What a session tells the backend's hooks about itself, and how a failed hook call
 * becomes the client's answer.
 */
import { Errors } from '../../protocol/codes.js';
import { ProxyCallError, type ProxyClient } from '../proxy-ports.js';
import type { ClientSession } from './client.js';

/** The connection as a proxy request sees it. */
export function proxyClientOf(c: ClientSession): ProxyClient {
  return {
    client: c.id,
    transport: c.transportName,
    protocol: c.protocol,
    user: c.userId,
    headers: c.request.headers,
    emulatedHeaders: c.emulatedHeaders,
    meta: c.meta,
  };
}

/**
 * Runs a proxy call. A backend that could not be asked (or answered nonsense) is logged, once
 * per burst, and answered with the temporary internal error (100), so the SDK retries; the
 * backend's own errors and disconnects pass through.
 */
export async function callProxy<T>(c: ClientSession, hook: string, call: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const result = await call();
    c.node.logger.debug({ client: c.id, hook, durationMs: performance.now() - started }, 'proxy call');
    return result;
  } catch (err) {
    if (err instanceof ProxyCallError) {
      c.node.faults.log('warn', { client: c.id, hook, err: err.message }, 'proxy call failed', `proxy call failed: ${hook}`);
      throw Errors.internal;
    }
    throw err;
  }
}
