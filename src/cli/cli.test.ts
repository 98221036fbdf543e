import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jwtVerify } from 'jose';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';

const BIN = fileURLToPath(new URL('../../../bin/gyre.js', import.meta.url));

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('CENTRIFUGO_') && !k.startsWith('GYRE_')) env[k] = v;
  }
  return env;
}

function gyre(cwd: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: cleanEnv(), encoding: 'utf8', timeout: 20_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'gyre-cli-'));
}

function parseByExt(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  if (file.endsWith('.json')) return JSON.parse(text) as Record<string, unknown>;
  if (file.endsWith('.toml')) return parseToml(text) as Record<string, unknown>;
  return parseYaml(text) as Record<string, unknown>;
}

function secretOf(file: string): string {
  const cfg = parseByExt(file) as { client: { token: { hmac_secret_key: string } } };
  return cfg.client.token.hmac_secret_key;
}

describe('gyre genconfig / checkconfig', () => {
  for (const name of ['config.json', 'config.yaml', 'config.yml', 'config.toml']) {
    it(`generates a valid ${name}`, () => {
      const cwd = dir();
      const gen = gyre(cwd, 'genconfig', '-c', name);
      assert.equal(gen.code, 0, gen.stdout + gen.stderr);
      const file = join(cwd, name);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const cfg = parseByExt(file) as {
        client: { token: { hmac_secret_key: string }; allowed_origins: unknown[] };
        admin: { enabled: boolean; password: string; secret: string };
        http_api: { key: string };
      };
      assert.match(cfg.client.token.hmac_secret_key, /^[A-Za-z0-9_-]{86}$/);
      assert.match(cfg.admin.password, /^[A-Za-z0-9_-]{22}$/);
      assert.match(cfg.admin.secret, /^[A-Za-z0-9_-]{86}$/);
      assert.match(cfg.http_api.key, /^[A-Za-z0-9_-]{86}$/);
      assert.equal(cfg.admin.enabled, false);
      assert.deepEqual(cfg.client.allowed_origins, []);
      const check = gyre(cwd, 'checkconfig', '-c', name);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(check.stdout, '');
    });
  }

  it('generates fresh secrets each time', () => {
    const cwd = dir();
    assert.equal(gyre(cwd, 'genconfig', '-c', 'a.json').code, 0);
    assert.equal(gyre(cwd, 'genconfig', '-c', 'b.json').code, 0);
    assert.notEqual(secretOf(join(cwd, 'a.json')), secretOf(join(cwd, 'b.json')));
  });

  it('refuses to overwrite and rejects unknown extensions', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'config.json'), '{}');
    const again = gyre(cwd, 'genconfig');
    assert.equal(again.code, 1);
    assert.match(again.stdout, /already exists/);
    assert.equal(readFileSync(join(cwd, 'config.json'), 'utf8'), '{}');
    const ini = gyre(cwd, 'genconfig', '-c', 'config.ini');
    assert.equal(ini.code, 1);
    assert.ok(!existsSync(join(cwd, 'config.ini')));
  });

  it('checkconfig: unknown keys warn (fail with --strict); missing file and invalid values fail', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'config.json'), JSON.stringify({ foo: 1, client: { bar: 2, token: { hmac_secret_key: 's' } } }));
    const unknown = gyre(cwd, 'checkconfig');
    assert.equal(unknown.code, 0, unknown.stdout);
    assert.equal(unknown.stdout, 'warning: unknown key foo (line 1, column 2)\nwarning: unknown key client.bar (line 1, column 20)\n');
    const strict = gyre(cwd, 'checkconfig', '--strict');
    assert.equal(strict.code, 1);
    assert.equal(strict.stdout, 'error: unknown key foo (line 1, column 2)\nerror: unknown key client.bar (line 1, column 20)\n');

    const missing = gyre(cwd, 'checkconfig', '-c', 'missing.json');
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, 'config file not found\n');

    writeFileSync(join(cwd, 'bad.json'), JSON.stringify({ channel: { namespaces: [{ name: 'x' }] } }));
    const bad = gyre(cwd, 'checkconfig', '-c', 'bad.json');
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^error validating config: channel\.namespaces\[0\]\.name: /);
    assert.equal(bad.stdout.split('\n').length, 2, 'one problem, one line');
  });
});

describe('gyre gentoken / gensubtoken / checktoken', () => {
  it('prints an HS256 token that verifies with the configured secret', async () => {
    const cwd = dir();
    assert.equal(gyre(cwd, 'genconfig').code, 0);
    const secret = new TextEncoder().encode(secretOf(join(cwd, 'config.json')));
    const r = gyre(cwd, 'gentoken', '-u', '42');
    assert.equal(r.code, 0, r.stdout);
    const m = /^HMAC SHA-256 JWT for user "42" with expiration TTL 168h0m0s:\n(\S+)\n$/.exec(r.stdout);
    assert.ok(m !== null, r.stdout);
    const { payload, protectedHeader } = await jwtVerify(m[1] ?? '', secret);
    assert.equal(protectedHeader.alg, 'HS256');
    assert.equal(payload.sub, '42');
    assert.equal(typeof payload.iat, 'number');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 604800);

    const quiet = gyre(cwd, 'gentoken', '-q', '-t', '-1');
    assert.equal(quiet.code, 0);
    const anon = await jwtVerify(quiet.stdout, secret);
    assert.equal(anon.payload.sub, '');
    assert.equal(anon.payload.exp, undefined);
    assert.match(gyre(cwd, 'gentoken', '-t', '0').stdout, /^HMAC SHA-256 JWT for anonymous user without expiration:\n/);

    const sub = gyre(cwd, 'gensubtoken', '-u', '7', '-s', 'news', '-t', '60');
    assert.equal(sub.code, 0, sub.stdout);
    const sm = /^HMAC SHA-256 JWT for user "7" and channel "news" with expiration TTL 1m0s:\n(\S+)\n$/.exec(sub.stdout);
    assert.ok(sm !== null, sub.stdout);
    const subPayload = (await jwtVerify(sm[1] ?? '', secret)).payload;
    assert.equal(subPayload.channel, 'news');
    assert.equal(subPayload.sub, '7');

    const noChannel = gyre(cwd, 'gensubtoken', '-u', '7');
    assert.equal(noChannel.code, 1);
    assert.equal(noChannel.stdout, 'channel is required\n');
  });

  it('uses user_id_claim and the separate subscription token key', async () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'config.yaml'),
      'client:\n  token:\n    hmac_secret_key: conn-secret\n    user_id_claim: uid\n  subscription_token:\n    enabled: true\n    hmac_secret_key: sub-secret\n',
    );
    const t = gyre(cwd, 'gentoken', '-c', 'config.yaml', '-u', '5', '-q');
    const p = (await jwtVerify(t.stdout, new TextEncoder().encode('conn-secret'))).payload;
    assert.equal(p.uid, '5');
    const s = gyre(cwd, 'gensubtoken', '-c', 'config.yaml', '-u', '5', '-s', 'ch', '-q');
    const sp = (await jwtVerify(s.stdout, new TextEncoder().encode('sub-secret'))).payload;
    assert.equal(sp.channel, 'ch');
  });

  it('fails without an HMAC secret', () => {
    const cwd = dir();
    const r = gyre(cwd, 'gentoken', '-c', 'none.json');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^error: gentoken only supports generating HMAC-signed tokens/);
  });

  it('checks tokens with the configured verifier', (t) => {
    const auth = fileURLToPath(new URL('../auth/index.js', import.meta.url));
    if (!existsSync(auth)) {
      t.skip('auth module not built');
      return;
    }
    const cwd = dir();
    assert.equal(gyre(cwd, 'genconfig').code, 0);
    const token = gyre(cwd, 'gentoken', '-u', '42', '-q').stdout;
    const ok = gyre(cwd, 'checktoken', token);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /^valid token for user 42\npayload: \{"sub":"42",/);
    const subToken = gyre(cwd, 'gensubtoken', '-u', '42', '-s', 'news', '-q').stdout;
    const subOk = gyre(cwd, 'checksubtoken', subToken);
    assert.equal(subOk.code, 0, subOk.stdout);
    assert.match(subOk.stdout, /^valid subscription token for user "42" and channel "news"\npayload: /);
    const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}AAAA`;
    const bad = gyre(cwd, 'checktoken', forged);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^error: token with algorithm HS256 and claims \{.*\} has error: /);
    const none = gyre(cwd, 'checktoken');
    assert.equal(none.code, 1);
    assert.match(none.stdout, /provide token to check/);
  });
});

describe('gyre defaultconfig / defaultenv', () => {
  it('prints and writes the full default config', () => {
    const cwd = dir();
    const dry = gyre(cwd, 'defaultconfig', '-d');
    assert.equal(dry.code, 0, dry.stdout);
    const tree = JSON.parse(dry.stdout) as { client: { ping_interval: string }; channel: { history_meta_ttl: string } };
    assert.equal(tree.client.ping_interval, '25s');
    assert.equal(tree.channel.history_meta_ttl, '720h0m0s');
    assert.equal(gyre(cwd, 'defaultconfig', '-c', 'full.yaml').code, 0);
    const check = gyre(cwd, 'checkconfig', '-c', 'full.yaml');
    assert.equal(check.code, 0, check.stdout);
    const again = gyre(cwd, 'defaultconfig', '-c', 'full.yaml');
    assert.equal(again.code, 1);
    assert.match(again.stdout, /already exists/);
  });

  it('merges defaults over a base file', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'base.json'), JSON.stringify({ client: { channel_limit: 9 } }));
    const r = gyre(cwd, 'defaultconfig', '-b', 'base.json', '-c', 'out.toml', '-d');
    assert.equal(r.code, 0, r.stdout);
    const tree = parseToml(r.stdout) as { client: { channel_limit: number; stale_close_delay: string } };
    assert.equal(tree.client.channel_limit, 9);
    assert.equal(tree.client.stale_close_delay, '10s');
  });

  it('prints env vars', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'base.json'), JSON.stringify({ client: { channel_limit: 9 } }));
    const all = gyre(cwd, 'defaultenv', '-b', 'base.json');
    assert.equal(all.code, 0);
    const lines = all.stdout.trim().split('\n');
    assert.deepEqual(lines, [...lines].sort());
    assert.ok(lines.includes('CENTRIFUGO_CLIENT_CHANNEL_LIMIT=9'));
    assert.ok(lines.includes('CENTRIFUGO_HTTP_SERVER_PORT=8000'));
    const nonZero = gyre(cwd, 'defaultenv', '-b', 'base.json', '--base-non-zero-only');
    assert.equal(nonZero.stdout, 'CENTRIFUGO_CLIENT_CHANNEL_LIMIT=9\n');
  });
});

describe('gyre root command and meta', () => {
  it('prints the version', () => {
    const r = gyre(dir(), 'version');
    assert.equal(r.code, 0);
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
    assert.equal(r.stdout, `Gyre v${pkg.version} (Node ${process.version})\n`);
  });

  it('answers --help for the root and every command', () => {
    const cwd = dir();
    const root = gyre(cwd, '--help');
    assert.equal(root.code, 0);
    for (const flag of ['--http_server.port', '--engine.type', '--client.insecure', '--uni_grpc.port', '--pid_file', '--workers', '-a, --http_server.address']) {
      assert.ok(root.stdout.includes(flag), flag);
    }
    for (const cmd of ['genconfig', 'checkconfig', 'defaultconfig', 'defaultenv', 'gentoken', 'gensubtoken', 'checktoken', 'checksubtoken', 'version']) {
      const r = gyre(cwd, cmd, '--help');
      assert.equal(r.code, 0, cmd);
      assert.match(r.stdout, new RegExp(`Usage: gyre ${cmd}`));
    }
  });

  it('refuses an invalid config before starting anything', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'config.json'), JSON.stringify({ client: { ping_interval: '1s', pong_timeout: '2s' } }));
    const r = gyre(cwd, '--pid_file', 'gyre.pid');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error validating config: client\.ping_interval: /);
    assert.ok(!existsSync(join(cwd, 'gyre.pid')));
    const badFlag = gyre(cwd, '--http_server.port', 'eighty');
    assert.equal(badFlag.code, 1);
    assert.match(badFlag.stderr, /error validating config: http_server\.port/);
  });

  it('rejects unknown commands and options', () => {
    const cwd = dir();
    assert.notEqual(gyre(cwd, 'nosuchcommand').code, 0);
    assert.notEqual(gyre(cwd, '--nosuchflag').code, 0);
    assert.notEqual(gyre(cwd, '--broker.enabled=maybe').code, 0);
  });
});
