/**
 * JWT helpers for end-to-end tests, built on `jose`: HMAC tokens, RSA / ECDSA key pairs
 * generated per test run (PEM for the config, private key for signing), and a JWKS
 * document served from a local node:http server.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

export type Claims = JWTPayload & Record<string, unknown>;

const nowSec = (): number => Math.floor(Date.now() / 1000);

/** Adds `iat` and, unless ttlSec is null, `exp = now + ttlSec` (default one hour). */
function withTimes(claims: Claims, ttlSec: number | null): Claims {
  const out: Claims = { iat: nowSec(), ...claims };
  if (ttlSec !== null && out.exp === undefined) out.exp = nowSec() + ttlSec;
  return out;
}

/** HS256 token signed with `secret`. */
export function hmacToken(secret: string, claims: Claims, ttlSec: number | null = 3600): Promise<string> {
  return new SignJWT(withTimes(claims, ttlSec)).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

export interface KeyPair {
  alg: 'RS256' | 'ES256';
  /** SPKI PEM of the public key, as `client.token.rsa_public_key` / `ecdsa_public_key` expects. */
  publicPem: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  kid: string;
}

export async function newKeyPair(alg: 'RS256' | 'ES256', kid = `${alg.toLowerCase()}-key`): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, publicPem: await exportSPKI(publicKey), privateKey, publicKey, kid };
}

/** Token signed with an asymmetric key; `withKid` puts the key id into the header (JWKS needs it). */
export function signedToken(key: KeyPair, claims: Claims, opts: { ttlSec?: number | null; withKid?: boolean } = {}): Promise<string> {
  const header: { alg: string; typ: string; kid?: string } = { alg: key.alg, typ: 'JWT' };
  if (opts.withKid) header.kid = key.kid;
  return new SignJWT(withTimes(claims, opts.ttlSec === undefined ? 3600 : opts.ttlSec)).setProtectedHeader(header).sign(key.privateKey);
}

export interface JwksServer {
  url: string;
  /** Number of GET requests served. */
  hits(): number;
  close(): Promise<void>;
}

/** Serves `{"keys":[...]}` for the given key pairs (use "sig", kid, alg) on 127.0.0.1. */
export async function serveJwks(keys: KeyPair[]): Promise<JwksServer> {
  const jwks = {
    keys: await Promise.all(
      keys.map(async (k) => ({ ...(await exportJWK(k.publicKey)), kid: k.kid, use: 'sig', alg: k.alg })),
    ),
  };
  const body = JSON.stringify(jwks);
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (req.method !== 'GET' || !req.url?.startsWith('/jwks')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    hits: () => hits,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Replaces the signature part of a JWT with a valid-looking but wrong one. */
export function corruptSignature(token: string): string {
  const parts = token.split('.');
  const sig = parts[2] ?? '';
  const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  return `${parts[0]}.${parts[1]}.${flipped}`;
}
