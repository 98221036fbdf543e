/**
 * What a session tells the backend's hooks about itself, and how a failed hook call
 * becomes the client's answer.
 */
import { Errors } from '../../protocol/codes.js';
import { ProxyCallError, type ProxyClient, type ProxyIdentity } from '../proxy-ports.js';
import type { ProxyEvent } from '../node-events.js';
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
 * Calls a backend hook, timing it: `proxy_start` and `proxy` events for metrics, the
 * duration in a debug line. Whatever the call throws is rethrown.
 */
export async function timedProxyCall<T>(c: ClientSession, type: string, proxy: ProxyIdentity, call: () => Promise<T>): Promise<T> {
  const node = c.node;
  const ev: ProxyEvent = { type, name: proxy.name ?? 'default', protocol: proxy.protocol ?? 'http' };
  node.events.emit('proxy_start', ev);
  const started = performance.now();
  let failed = false;
  try {
    return await call();
  } catch (err) {
    failed = err instanceof ProxyCallError;
    throw err;
  } finally {
    const durationMs = performance.now() - started;
    node.events.emit('proxy', { ...ev, durationMs, failed });
    node.logger.debug({ client: c.id, hook: type, proxy: ev.name, durationMs, failed }, 'proxy call');
  }
}

/**
 * Runs a proxy call for a client command. A backend that could not be asked (or answered
 * nonsense) is logged, once per burst, and answered with the temporary internal error (100),
 * so the SDK retries; the backend's own errors and disconnects pass through.
 */
export async function callProxy<T>(c: ClientSession, type: string, proxy: ProxyIdentity, call: () => Promise<T>): Promise<T> {
  try {
    return await timedProxyCall(c, type, proxy, call);
  } catch (err) {
    if (err instanceof ProxyCallError) {
      c.node.faults.log('warn', { client: c.id, hook: type, err: err.message }, 'proxy call failed', `proxy call failed: ${type}`);
      throw Errors.internal;
    }
    throw err;
  }
}
