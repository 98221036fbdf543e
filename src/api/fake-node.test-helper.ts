/**
 * Test support for the api/ unit tests: an in-memory NodeApi that records calls, and a real
 * node:http server on 127.0.0.1 serving the API handler over it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChannelOptions } from '../core/channel-options.js';
import type { NodeMapApi } from '../core/index.js';
import type {
  ApiDisconnectRequest,
  ApiHistoryRequest,
  ApiHistoryResult,
  ApiPublishRequest,
  ApiPublishResult,
  ApiRefreshRequest,
  ApiSharedPollPublishRequest,
  ApiSubscribeRequest,
  ConnectionSelector,
  NodeApi,
  NodeInfo,
} from '../core/node-api.js';
import type { ClientInfo } from '../protocol/index.js';
import { ApiExecutor } from './executor.js';
import { ApiEndpoint, apiHandlerOf, type ApiHandlerOptions } from './http-handler.js';

export interface Call {
  method: string;
  arg: unknown;
}

/** Namespaces by name ('' = channels without namespace); the namespace of `a:b` is `a`. */
export const defaultNamespaces = (): Record<string, ChannelOptions> => ({
  '': { history_size: 10, history_ttl: 60_000, presence: true },
  plain: {},
  bin: { publication_data_format: 'binary' },
  json: { publication_data_format: 'json' },
  obj: { publication_data_format: 'json_object' },
  map: { subscription_type: 'map' },
  delta: { delta_publish: true },
});

export class FakeNode implements NodeApi {
  readonly calls: Call[] = [];
  namespaces = defaultNamespaces();
  /** Per-method error to throw (method names as on NodeApi). */
  throwOn: Record<string, unknown> = {};
  publishResult: (req: ApiPublishRequest) => ApiPublishResult = () => ({ offset: 7, epoch: 'ep' });
  presenceData: Record<string, ClientInfo> = {};
  statsData = { num_clients: 0, num_users: 0 };
  historyData: ApiHistoryResult = { publications: [], offset: 0, epoch: 'ep' };
  channelsData: Record<string, { num_clients: number }> = {};
  nodes: NodeInfo[] = [];
  /** Map methods: a test sets one (e.g. a MapApi on a memory map broker); none answers 108. */
  maps: NodeMapApi | undefined = undefined;
  /** Milliseconds each publish waits, to observe concurrency. */
  publishDelayMs = 0;
  inFlight = 0;
  maxInFlight = 0;

  channelOptions(channel: string): ChannelOptions | undefined {
    const i = channel.indexOf(':');
    return this.namespaces[i === -1 ? '' : channel.slice(0, i)];
  }

  private record(method: string, arg: unknown): void {
    this.calls.push({ method, arg });
    if (method in this.throwOn) throw this.throwOn[method];
  }

  callsOf(method: string): unknown[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.arg);
  }

  async publish(req: ApiPublishRequest): Promise<ApiPublishResult> {
    this.record('publish', req);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.publishDelayMs) await new Promise((r) => setTimeout(r, this.publishDelayMs));
      return this.publishResult(req);
    } finally {
      this.inFlight--;
    }
  }
  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    this.record('presence', channel);
    return this.presenceData;
  }
  async presenceStats(channel: string): Promise<{ num_clients: number; num_users: number }> {
    this.record('presenceStats', channel);
    return this.statsData;
  }
  async history(req: ApiHistoryRequest): Promise<ApiHistoryResult> {
    this.record('history', req);
    return this.historyData;
  }
  async historyRemove(channel: string): Promise<void> {
    this.record('historyRemove', channel);
  }
  async sharedPollPublish(req: ApiSharedPollPublishRequest): Promise<void> {
    this.record('sharedPollPublish', req);
  }
  async subscribe(req: ApiSubscribeRequest): Promise<void> {
    this.record('subscribe', req);
  }
  async unsubscribe(sel: ConnectionSelector & { channel: string }): Promise<void> {
    this.record('unsubscribe', sel);
  }
  async disconnect(req: ApiDisconnectRequest): Promise<void> {
    this.record('disconnect', req);
  }
  async refresh(req: ApiRefreshRequest): Promise<void> {
    this.record('refresh', req);
  }
  async channels(): Promise<Record<string, { num_clients: number }>> {
    this.record('channels', undefined);
    return this.channelsData;
  }
  async info(): Promise<{ nodes: NodeInfo[] }> {
    this.record('info', undefined);
    return { nodes: this.nodes };
  }
}

export interface LogEntry {
  level: 'debug' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

export interface TestApi {
  node: FakeNode;
  exec: ApiExecutor;
  logs: LogEntry[];
  /** Base URL, e.g. http://127.0.0.1:12345 */
  base: string;
  /** POSTs to a path; `body` objects are JSON-encoded, strings sent as is. Sends the test key unless `headers` says otherwise. */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  contentType: string | null;
  text: string;
  json(): any;
}

export const TEST_KEY = 'secret-key';

/** Called with every test server before it listens (another binding can install itself on it). */
let serverHook: ((server: Server, endpoint: ApiEndpoint) => void) | undefined;
export function setTestServerHook(hook: typeof serverHook): void {
  serverHook = hook;
}

/** Starts a server with the API handler over a FakeNode; paths outside the API answer 418. */
export async function startTestApi(handlerOpts: Partial<ApiHandlerOptions> = {}): Promise<TestApi> {
  const node = new FakeNode();
  const logs: LogEntry[] = [];
  const logger = {
    debug: (obj: object, msg?: string) => logs.push({ level: 'debug', obj, msg }),
    warn: (obj: object, msg?: string) => logs.push({ level: 'warn', obj, msg }),
    error: (obj: object, msg?: string) => logs.push({ level: 'error', obj, msg }),
  };
  const exec = new ApiExecutor(node, { logger });
  const endpoint = new ApiEndpoint(exec, { key: TEST_KEY, insecure: false, logger, ...handlerOpts });
  const handler = apiHandlerOf(endpoint);
  const server: Server = createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(418);
      res.end('not api');
    }
  });
  serverHook?.(server, endpoint);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const request = async (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<TestResponse> => {
    const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get('content-type'), text, json: () => JSON.parse(text) };
  };
  return {
    node,
    exec,
    logs,
    base,
    request,
    post: (path, body = {}, headers = { 'X-API-Key': TEST_KEY }) =>
      request('POST', path, typeof body === 'string' ? body : JSON.stringify(body), headers),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
