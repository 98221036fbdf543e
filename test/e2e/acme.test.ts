/**
 * ACME certificates (`http_server.tls_autocert`) against Debian's `pebble` test CA on
 * loopback: renewal at start of a cached certificate close to expiry over HTTP-01, issuance
 * on the first handshake over TLS-ALPN-01, the cache reused after a restart with the CA down,
 * `server_name` for clients without SNI, and the host whitelist.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { freePort, startGyre, type GyreProcess } from '../helpers/server-process.js';
import { makeTestCa, type TestCa } from '../helpers/tls-certs.js';
import { waitEvent, waitFor } from '../helpers/wait.js';

const hasPebble = spawnSync('pebble', ['-h']).error === undefined;

/** A pebble process: its directory URL and the root of the certificates it issues. */
interface Pebble {
  directoryUrl: string;
  root(): Promise<string>;
  stop(): Promise<void>;
  output(): string;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts pebble on spare loopback ports, serving HTTPS with a certificate from `ca`. */
async function startPebble(ca: TestCa, dir: string, challenge: { httpPort: number; tlsPort: number }): Promise<Pebble> {
  const port = await freePort();
  const mgmt = await freePort();
  const cert = ca.server(`pebble-${port}`);
  const configFile = join(dir, `pebble-${port}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${mgmt}`,
        certificate: cert.certFile,
        privateKey: cert.keyFile,
        httpPort: challenge.httpPort,
        tlsPort: challenge.tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child: ChildProcess = spawn('pebble', ['-config', configFile], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  await waitFor(async () => (await accepts(port)) && (await accepts(mgmt)), `pebble listening on ${port}`, 10_000);
  return {
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    output: () => log,
    root: () =>
      new Promise((resolve, reject) => {
        https
          .get(`https://127.0.0.1:${mgmt}/roots/0`, { ca: ca.ca }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(text));
          })
          .on('error', reject);
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

/** Handshakes with Gyre; resolves with the leaf certificate, whether it chains to `ca`, and the error if the handshake failed. */
function handshake(port: number, servername: string | undefined, ca: string): Promise<{ cert?: X509Certificate; authorized: boolean; error?: string }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    s.setTimeout(60_000, () => s.destroy(new Error('handshake timeout')));
    s.once('secureConnect', () => {
      const raw = s.getPeerCertificate().raw;
      resolve({ cert: raw ? new X509Certificate(raw) : undefined, authorized: s.authorized });
      s.destroy();
    });
    s.once('error', (err) => resolve({ authorized: false, error: err.message }));
  });
}

describe('ACME certificates from pebble', { skip: hasPebble ? false : 'pebble is not installed (apt-get install pebble)' }, () => {
  let ca: TestCa;
  let work: string;
  const stops: (() => Promise<unknown>)[] = [];

  before(() => {
    ca = makeTestCa('Pebble HTTPS CA');
    work = mkdtempSync(join(tmpdir(), 'gyre-acme-'));
  });
  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    ca?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('renews a cached certificate close to expiry at start over HTTP-01, then serves it from the cache after a restart with the CA down', async () => {
    const cacheDir = join(work, 'cache-http');
    const challengePort = await freePort();
    const pebble = await startPebble(ca, work, { httpPort: challengePort, tlsPort: await freePort() });
    stops.push(() => pebble.stop());
    // A certificate expiring in two days, from another CA: due for renewal.
    const old = ca.server('localhost-old');
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(join(cacheDir, 'localhost'), old.key + old.cert);
    const config = {
      log: { level: 'info' },
      client: { insecure: true },
      http_api: { key: 'acme-key' },
      http_server: {
        tls_autocert: {
          enabled: true,
          host_whitelist: ['localhost'],
          cache_dir: cacheDir,
          email: 'ops@example.com',
          server_name: 'localhost',
          http: true,
          http_addr: `127.0.0.1:${challengePort}`,
          acme_directory_url: pebble.directoryUrl,
          acme_ca_file: ca.caFile,
        },
      },
    };
    let gyre: GyreProcess = await startGyre(config);
    stops.push(() => gyre.stop());
    const root = await pebble.root();
    assert.match(root, /BEGIN CERTIFICATE/);
    await waitFor(
      () => {
        const text = readFileSync(join(cacheDir, 'localhost'), 'utf8');
        return text.includes('PRIVATE KEY') && new X509Certificate(text.slice(text.indexOf('-----BEGIN CERTIFICATE'))).issuer !== new X509Certificate(old.cert).issuer;
      },
      `the renewed certificate in the cache:\n${pebble.output()}`,
      30_000,
    );
    assert.ok(existsSync(join(cacheDir, 'acme_account+key')), 'the account key is cached');
    // The served certificate chains to pebble's root.
    const served = await waitFor(async () => {
      const h = await handshake(gyre.port, 'localhost', root);
      return h.authorized ? h : undefined;
    }, 'a handshake verified against pebble\'s root');
    assert.ok(served.cert?.checkHost('localhost'));
    // A client without SNI gets the server_name certificate.
    const noSni = await handshake(gyre.port, undefined, root);
    assert.equal(noSni.cert?.fingerprint256, served.cert?.fingerprint256);
    // A name off the whitelist gets no certificate.
    const denied = await handshake(gyre.port, 'other.localhost', root);
    assert.ok(denied.error, 'handshake for a name off the whitelist fails');
    assert.doesNotMatch(gyre.output(), /other\.localhost/, 'no certificate is requested for it');
    // The SDK over wss:// trusting pebble's root.
    const Ws = class extends WebSocket {
      constructor(u: string, p?: string | string[]) {
        super(u, p, { ca: root });
      }
    };
    const c = new Centrifuge(`wss://localhost:${gyre.port}/connection/websocket`, { websocket: Ws as unknown as typeof WebSocket });
    c.on('error', () => undefined);
    const connected = waitEvent(c, 'connected');
    c.connect();
    await connected;
    c.disconnect();

    // Restart with the CA gone: the cached certificate serves at once.
    await gyre.stop();
    await pebble.stop();
    gyre = await startGyre(config);
    const again = await handshake(gyre.port, 'localhost', root);
    assert.ok(again.authorized, again.error);
    assert.equal(again.cert?.fingerprint256, served.cert?.fingerprint256);
    assert.doesNotMatch(gyre.output(), /ACME certificate obtained/);
    await gyre.stop();
  });

  it('obtains a certificate on the first handshake for a name over TLS-ALPN-01', async () => {
    const cacheDir = join(work, 'cache-alpn');
    // pebble validates on Gyre's TLS port, so that port is chosen first.
    const port = await freePort();
    const pebble = await startPebble(ca, work, { httpPort: await freePort(), tlsPort: port });
    stops.push(() => pebble.stop());
    const gyre = await startGyre(
      {
        log: { level: 'info' },
        client: { insecure: true },
        // No whitelist: any name a handshake asks for; no HTTP-01 server.
        http_server: { tls_autocert: { enabled: true, cache_dir: cacheDir, acme_directory_url: pebble.directoryUrl, acme_ca_file: ca.caFile } },
      },
      { port },
    );
    stops.push(() => gyre.stop());
    assert.ok(!existsSync(join(cacheDir, 'localhost')), 'nothing fetched at start');
    const root = await pebble.root();
    const h = await handshake(port, 'localhost', root);
    assert.ok(h.authorized, `${h.error ?? 'not authorized'}\n${gyre.output()}\n${pebble.output()}`);
    assert.ok(h.cert?.checkHost('localhost'));
    assert.ok(existsSync(join(cacheDir, 'localhost')), 'cached');
    assert.match(gyre.output(), /ACME certificate obtained/);
  });
});
