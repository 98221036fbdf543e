/**
 * GRPC clients for end-to-end tests: @grpc/grpc-js stubs built from the repository's proto
 * files (proto/api.proto, proto/unistream.proto), with promise-returning unary calls.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { repoRoot } from './server-process.js';

const loaderOptions: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false };

/** The API package as a client would load it from proto/api.proto. */
export function apiPackage(): any {
  return grpc.loadPackageDefinition(protoLoader.loadSync(join(repoRoot, 'proto', 'api.proto'), loaderOptions)) as any;
}

/** A CentrifugoApi client stub. */
export function apiClient(port: number, creds = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): grpc.Client & Record<string, any> {
  const Ctor = apiPackage().centrifugal.centrifugo.api.CentrifugoApi;
  return new Ctor(`127.0.0.1:${port}`, creds, options);
}

/** A CentrifugoUniStream client stub. */
export function uniClient(port: number, creds = grpc.credentials.createInsecure()): grpc.Client & Record<string, any> {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(repoRoot, 'proto', 'unistream.proto'), loaderOptions)) as any;
  return new pkg.centrifugal.centrifugo.unistream.CentrifugoUniStream(`127.0.0.1:${port}`, creds);
}

/** A unary call's outcome: the response or the status error. */
export type Unary = { res: any; err?: undefined } | { res?: undefined; err: grpc.ServiceError };

/** Calls a unary method and resolves with its response or its error (never rejects). */
export function unary(client: Record<string, any>, method: string, req: unknown, md: Record<string, string> = {}): Promise<Unary> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve) => {
    client[method](req, metadata, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res: any) => resolve(err ? { err } : { res }));
  });
}

/** Sends raw bytes as the request of `path` (e.g. `/centrifugal.centrifugo.api.CentrifugoApi/Publish`). */
export function rawUnary(client: grpc.Client, path: string, bytes: Buffer, md = new grpc.Metadata()): Promise<{ err?: grpc.ServiceError; res?: Buffer }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      md,
      { deadline: Date.now() + 10_000 },
      (err, res) => resolve(err ? { err } : { res: res as Buffer }),
    );
  });
}

/** A self-signed certificate for 127.0.0.1 / localhost: PEM texts, made with openssl. */
export function selfSignedCert(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-cert-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
