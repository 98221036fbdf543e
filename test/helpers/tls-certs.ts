/**
 * A throwaway certificate authority for TLS tests, made with the openssl command line: a CA,
 * server certificates for localhost / 127.0.0.1 and client certificates for mTLS, written as
 * PEM files into a temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of one certificate and its key, plus their PEM texts. */
export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A test CA: its PEM (to trust) and a function issuing leaf certificates. */
export interface TestCa {
  dir: string;
  caFile: string;
  ca: string;
  /** A server certificate for the given DNS names and IPs (default localhost and 127.0.0.1). */
  server(name: string, dns?: string[], ips?: string[]): IssuedCert;
  /** A client certificate (extendedKeyUsage clientAuth) with the given common name. */
  client(name: string): IssuedCert;
  /** Removes the directory. */
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a new CA (P-256 keys, valid two days) in a temporary directory. */
export function makeTestCa(label = 'Gyre Test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-ca-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', `/CN=${label}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const issue = (name: string, ext: string): IssuedCert => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  };
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    server: (name, dns = ['localhost'], ips = ['127.0.0.1']) => {
      const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
      return issue(name, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    },
    client: (name) => issue(name, 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
