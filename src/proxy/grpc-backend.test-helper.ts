/**
 * A real GRPC application backend for tests: a @grpc/grpc-js server implementing
 * CentrifugoProxy from proto/proxy.proto on 127.0.0.1, recording each call's request and
 * metadata. Unary answers and stream behaviour are set per test.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROXY_PROTO_LOADER_OPTIONS, PROXY_PROTO_PATH } from './grpc-proxy.js';

export type Msg = Record<string, any>;

/** One call as the backend saw it. */
export interface ReceivedCall {
  method: string;
  request: Msg;
  /** Metadata with single values as strings (repeated keys as arrays). */
  metadata: Record<string, string | string[]>;
}

/** Answers a unary call: a response message, or a GRPC error to fail it with. */
type GrpcFailure = { grpcError: grpc.status; details?: string };
export type UnaryAnswer = (request: Msg, metadata: grpc.Metadata) => Msg | GrpcFailure | Promise<Msg | GrpcFailure>;

/** Drives one subscribe stream (`first` is the SubscribeRequest, from the call or the first stream message). */
export type StreamDriver = (ctx: {
  first: Msg;
  send(msg: Msg): void;
  end(): void;
  fail(code: grpc.status, details: string): void;
  /** Messages Gyre sent after the first (bidirectional). */
  received: Msg[];
  /** Resolves when Gyre cancels or the stream otherwise closes. */
  closed: Promise<void>;
}) => void;

const UNARY = ['Connect', 'Refresh', 'Subscribe', 'Publish', 'RPC', 'SubRefresh', 'MapPublish', 'MapRemove', 'SharedPollRefresh'] as const;

function metadataMap(md: grpc.Metadata): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(md.toJSON())) {
    const vals = (v as (string | Buffer)[]).map((x) => x.toString());
    out[k] = vals.length === 1 ? (vals[0] as string) : vals;
  }
  return out;
}

export class GrpcBackend {
  readonly received: ReceivedCall[] = [];
  /** Per method; a missing one answers `{}`. */
  answers: Partial<Record<(typeof UNARY)[number], UnaryAnswer>> = {};
  stream: StreamDriver = ({ send }) => send({ subscribe_response: {} });
  /** Streams currently open on the backend. */
  openStreams = 0;
  private server: grpc.Server | undefined;
  port = 0;

  async start(tls?: { cert: string; key: string }, port = 0): Promise<void> {
    const def = protoLoader.loadSync(PROXY_PROTO_PATH, PROXY_PROTO_LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as any;
    const service = pkg.centrifugal.centrifugo.proxy.CentrifugoProxy.service as grpc.ServiceDefinition;
    const impl: grpc.UntypedServiceImplementation = {};
    for (const m of UNARY) {
      impl[m] = (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        this.received.push({ method: m, request: call.request, metadata: metadataMap(call.metadata) });
        const answer = this.answers[m] ?? (() => ({}));
        Promise.resolve(answer(call.request, call.metadata)).then(
          (res) => {
            if ('grpcError' in res) cb({ code: (res as GrpcFailure).grpcError, details: (res as GrpcFailure).details ?? 'refused' } as grpc.ServiceError);
            else cb(null, res);
          },
          (err: unknown) => cb({ code: grpc.status.INTERNAL, details: String(err) } as grpc.ServiceError),
        );
      };
    }
    impl.SubscribeUnidirectional = (call: grpc.ServerWritableStream<Msg, Msg>) => {
      this.received.push({ method: 'SubscribeUnidirectional', request: call.request, metadata: metadataMap(call.metadata) });
      this.drive(call, call.request, []);
    };
    impl.SubscribeBidirectional = (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      const received: Msg[] = [];
      let first: Msg | undefined;
      call.on('data', (msg: Msg) => {
        if (first === undefined) {
          first = msg;
          this.received.push({ method: 'SubscribeBidirectional', request: msg, metadata: metadataMap(call.metadata) });
          this.drive(call, msg.subscribe_request ?? {}, received);
        } else received.push(msg);
      });
      call.on('error', () => undefined);
    };
    this.server = new grpc.Server();
    this.server.addService(service, impl);
    const creds = tls
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], false)
      : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) =>
      this.server?.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
    );
  }

  get target(): string {
    return `grpc://127.0.0.1:${this.port}`;
  }

  calls(method: string): ReceivedCall[] {
    return this.received.filter((c) => c.method === method);
  }

  last(method: string): ReceivedCall {
    const c = this.calls(method).at(-1);
    if (!c) throw new Error(`backend received no ${method} call`);
    return c;
  }

  reset(): void {
    this.received.length = 0;
    this.answers = {};
    this.stream = ({ send }) => send({ subscribe_response: {} });
  }

  async stop(): Promise<void> {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  private drive(call: grpc.ServerWritableStream<Msg, Msg> | grpc.ServerDuplexStream<Msg, Msg>, first: Msg, received: Msg[]): void {
    this.openStreams++;
    let done = false;
    const closed = new Promise<void>((resolve) => {
      const finish = (): void => {
        if (done) return;
        done = true;
        this.openStreams--;
        resolve();
      };
      call.on('cancelled', finish);
      call.on('close', finish);
      call.on('finish', finish);
      call.on('error', finish);
    });
    this.stream({
      first,
      received,
      closed,
      send: (msg) => {
        if (!done) call.write(msg);
      },
      end: () => {
        if (!done) call.end();
      },
      fail: (code, details) => {
        if (!done) call.emit('error', Object.assign(new Error(details), { code, details }));
      },
    });
  }
}
