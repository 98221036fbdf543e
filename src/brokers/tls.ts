/** The config's [TLS] block for outgoing broker connections, turned into Node TLS options. */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

/** [TLS] block as the config writes it. PEM fields take raw PEM, base64 PEM or a file path. */
export interface TlsBlock {
  enabled?: boolean;
  cert_pem?: string;
  key_pem?: string;
  server_ca_pem?: string;
  insecure_skip_verify?: boolean;
  server_name?: string;
}

/** Raw PEM, base64 of a PEM, or a path to a PEM file, as PEM text (undefined for an empty value). */
export function pem(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.includes('-----BEGIN')) return value;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  if (decoded.includes('-----BEGIN')) return decoded;
  return readFileSync(value, 'utf8');
}

/** Node TLS options of a block; undefined when the block is off (unless `force`, e.g. a rediss:// URL). */
export function tlsConnectionOptions(t: TlsBlock | undefined, force = false): ConnectionOptions | undefined {
  if (!force && !t?.enabled) return undefined;
  const out: ConnectionOptions = { rejectUnauthorized: !t?.insecure_skip_verify };
  if (t?.server_name) out.servername = t.server_name;
  const ca = pem(t?.server_ca_pem);
  const cert = pem(t?.cert_pem);
  const key = pem(t?.key_pem);
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}
