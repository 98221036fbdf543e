/**
 * Sends lifecycle notification batches over GRPC, for proxy endpoints that are not http(s):
 * disconnect and unsubscribe batches call `gyre.events.v1.GyreEvents/NotifyDisconnect` /
 * `NotifyUnsubscribe` (proto/gyre_events.proto); channel state batches call
 * `centrifugal.centrifugo.proxy.CentrifugoProxy/NotifyChannelState` (proto/proxy.proto). A
 * failed call or a response with `error` throws (the EventSink retries).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** The package root's proto/ folder, from dist/src/proxy or src/proxy. */
function protoPath(file: string): string {
  const candidates = [`../../../proto/${file}`, `../../proto/${file}`].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
}

const LOADER: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false };

const services = new Map<string, grpc.ServiceClientConstructor>();

function service(file: string, path: string[]): grpc.ServiceClientConstructor {
  const key = `${file}:${path.join('.')}`;
  let ctor = services.get(key);
  if (ctor === undefined) {
    let node: any = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath(file), LOADER));
    for (const part of path) node = node[part];
    ctor = node as grpc.ServiceClientConstructor;
    services.set(key, ctor);
  }
  return ctor;
}

export type GrpcEventKind = 'disconnect' | 'unsubscribe' | 'state';

export interface GrpcEventSenderOptions {
  /** `host:port` or `grpc://host:port`. */
  endpoint: string;
  timeoutMs: number;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized?: boolean };
  /** Per-call credentials metadata. */
  credentialsKey?: string;
  credentialsValue?: string;
  staticMetadata?: Readonly<Record<string, string>>;
  compression?: boolean;
}

/** One GRPC channel per sender; send() throws on any failure. */
export class GrpcEventSender {
  private readonly client: grpc.Client & Record<string, any>;
  private readonly method: string;

  constructor(
    private readonly kind: GrpcEventKind,
    private readonly opts: GrpcEventSenderOptions,
  ) {
    const target = opts.endpoint.replace(/^grpc:\/\//i, '');
    const channelOptions: grpc.ChannelOptions = {};
    if (opts.compression) channelOptions['grpc.default_compression_algorithm'] = 2;
    let creds: grpc.ChannelCredentials;
    const tls = opts.tls;
    if (tls) {
      if (tls.servername) channelOptions['grpc.ssl_target_name_override'] = tls.servername;
      const verify: grpc.VerifyOptions = tls.rejectUnauthorized === false ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {};
      creds = grpc.credentials.createSsl(tls.ca ? Buffer.from(tls.ca) : null, tls.key ? Buffer.from(tls.key) : null, tls.cert ? Buffer.from(tls.cert) : null, verify);
    } else {
      creds = grpc.credentials.createInsecure();
    }
    const Ctor =
      kind === 'state' ? service('proxy.proto', ['centrifugal', 'centrifugo', 'proxy', 'CentrifugoProxy']) : service('gyre_events.proto', ['gyre', 'events', 'v1', 'GyreEvents']);
    this.method = kind === 'state' ? 'NotifyChannelState' : kind === 'disconnect' ? 'NotifyDisconnect' : 'NotifyUnsubscribe';
    this.client = new Ctor(target, creds, channelOptions) as grpc.Client & Record<string, any>;
  }

  /** Calls the kind's method with one batch. */
  send(events: readonly object[]): Promise<void> {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.opts.staticMetadata ?? {})) md.set(k.toLowerCase(), v);
    if (this.opts.credentialsKey) md.set(this.opts.credentialsKey.toLowerCase(), this.opts.credentialsValue ?? '');
    return new Promise((resolve, reject) => {
      this.client[this.method]({ events }, md, { deadline: Date.now() + this.opts.timeoutMs }, (err: grpc.ServiceError | null, res: { error?: { code?: number; message?: string } } | undefined) => {
        if (err) reject(new Error(`grpc ${this.method}: ${err.message}`));
        else if (res?.error) reject(new Error(`backend error ${res.error.code ?? 0}: ${res.error.message ?? ''}`));
        else resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
