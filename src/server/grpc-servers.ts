/**
 * The GRPC listeners: the server API (`grpc_api`, port 10000) and the uni_grpc client
 * transport (`uni_grpc`, port 11000), each its own GRPC server with its own TLS and
 * message size limit. Started after the HTTP listeners, stopped with them.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { addGrpcApiService, ApiExecutor, loadApiProto } from '../api/index.js';
import type { Logger, Node, UniDisconnectTransform } from '../core/index.js';
import { addUniGrpcService, UNI_GRPC_KEEPALIVE } from '../transports/uni-grpc.js';

/** The [TLS] block of a listener. */
export interface ListenerTls {
  enabled?: boolean;
  cert_pem?: string;
  key_pem?: string;
  client_ca_pem?: string;
}

interface GrpcListenerConfig {
  enabled?: boolean;
  address?: string;
  port?: number | string;
  max_receive_message_size?: number;
  tls?: ListenerTls;
}

export interface GrpcServersConfig {
  grpc_api?: GrpcListenerConfig & { key?: string; error_mode?: string; reflection?: boolean };
  uni_grpc?: GrpcListenerConfig;
  client?: { connect_code_to_unidirectional_disconnect?: { enabled?: boolean; transforms?: readonly UniDisconnectTransform[] } };
}

/** Raw PEM, base64 of a PEM, or a path to a PEM file, as PEM bytes; undefined when empty. */
function pem(value: string | undefined): Buffer | undefined {
  if (!value) return undefined;
  if (value.includes('-----BEGIN')) return Buffer.from(value, 'utf8');
  const decoded = Buffer.from(value, 'base64');
  if (decoded.toString('utf8').includes('-----BEGIN')) return decoded;
  return readFileSync(value);
}

/** Server credentials of a listener's [TLS] block: plaintext when off; client certificates required when `client_ca_pem` is set. */
export function serverCredentials(t: ListenerTls | undefined): grpc.ServerCredentials {
  if (!t?.enabled) return grpc.ServerCredentials.createInsecure();
  const cert = pem(t.cert_pem);
  const key = pem(t.key_pem);
  if (!cert || !key) throw new Error('TLS is enabled but cert_pem or key_pem is missing');
  const ca = pem(t.client_ca_pem);
  return grpc.ServerCredentials.createSsl(ca ?? null, [{ cert_chain: cert, private_key: key }], ca !== undefined);
}

function serverOptions(c: GrpcListenerConfig, extra: grpc.ServerOptions = {}): grpc.ServerOptions {
  const max = Number(c.max_receive_message_size ?? 0);
  return { ...extra, ...(max > 0 ? { 'grpc.max_receive_message_length': max } : {}) };
}

function bind(server: grpc.Server, host: string, port: number, creds: grpc.ServerCredentials): Promise<number> {
  // An empty host means every interface, as for the HTTP listeners.
  const target = host === '' ? `0.0.0.0:${port}` : host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => server.bindAsync(target, creds, (err, bound) => (err ? reject(err) : resolve(bound))));
}

/** The enabled GRPC servers of a configuration; `listen()` binds them, `close()` stops them. */
export class GrpcServers {
  private readonly servers: { name: string; server: grpc.Server; config: GrpcListenerConfig; defaultPort: number }[] = [];

  constructor(node: Node, config: GrpcServersConfig, apiExecutor: ApiExecutor | undefined, private readonly logger: Logger) {
    const api = config.grpc_api;
    if (api?.enabled && apiExecutor) {
      const server = new grpc.Server(serverOptions(api));
      const pkg = loadApiProto();
      addGrpcApiService(server, apiExecutor, { key: api.key ?? '', errorMode: api.error_mode === 'transport' ? 'transport' : '' }, pkg);
      if (api.reflection) new ReflectionService(pkg).addToServer(server);
      this.servers.push({ name: 'grpc_api', server, config: api, defaultPort: 10000 });
    }
    const uni = config.uni_grpc;
    if (uni?.enabled) {
      const server = new grpc.Server(serverOptions(uni, UNI_GRPC_KEEPALIVE));
      const cu = config.client?.connect_code_to_unidirectional_disconnect;
      addUniGrpcService(server, node, { disconnectTransforms: cu?.enabled ? (cu.transforms ?? []) : [] });
      this.servers.push({ name: 'uni_grpc', server, config: uni, defaultPort: 11000 });
    }
  }

  /** Binds every enabled server; resolves to the bound ports by name. */
  async listen(): Promise<Record<string, number>> {
    const ports: Record<string, number> = {};
    for (const s of this.servers) {
      const port = await bind(s.server, s.config.address ?? '', Number(s.config.port ?? s.defaultPort), serverCredentials(s.config.tls));
      ports[s.name] = port;
      this.logger.info({ port, tls: !!s.config.tls?.enabled }, `${s.name} listening`);
    }
    return ports;
  }

  /**
   * Stops accepting calls and waits for running ones (streams end when the node disconnects
   * their sessions); calls still running after `graceMs` are cancelled.
   */
  async close(graceMs = 1000): Promise<void> {
    await Promise.all(
      this.servers.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            const force = setTimeout(() => server.forceShutdown(), graceMs);
            force.unref();
            server.tryShutdown(() => {
              clearTimeout(force);
              resolve();
            });
          }),
      ),
    );
  }
}
