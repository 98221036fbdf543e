/**
 * The config tools of the real `gyre` binary as a Centrifugo user meets them: checkconfig
 * with and without --strict, every problem at once with JSON positions and hints, configdoc,
 * and the start-up warning of a configuration no client can connect with.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runGyreCli, startGyre } from '../helpers/server-process.js';

const dirs: string[] = [];

/** Writes `text` as `name` in a fresh directory; returns the directory. */
function fileIn(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-cfgcli-'));
  dirs.push(dir);
  writeFileSync(join(dir, name), text);
  return dir;
}

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const KEY = { client: { token: { hmac_secret_key: 'config-cli-secret' } } };

describe('gyre checkconfig', { timeout: 60_000 }, () => {
  it('unknown keys are warnings (exit 0) without --strict and errors (exit 1) with it', async () => {
    const cwd = fileIn('config.json', JSON.stringify({ ...KEY, no_such_key: true }, null, 2));
    const loose = await runGyreCli(['checkconfig', '-c', 'config.json'], cwd);
    assert.equal(loose.code, 0, loose.stdout + loose.stderr);
    assert.equal(loose.stdout, 'warning: unknown key no_such_key (line 7, column 3)\n');
    const strict = await runGyreCli(['checkconfig', '-c', 'config.json', '--strict'], cwd);
    assert.equal(strict.code, 1);
    assert.equal(strict.stdout, 'error: unknown key no_such_key (line 7, column 3)\n');
  });

  it('prints every invalid value at once, each with its dotted path and JSON position', async () => {
    const config = {
      ...KEY,
      http_api: { error_mode: 'loud' },
      grpc_api: { port: 'ten thousand' },
      channel: { namespaces: [{ name: 'ok_name' }, { name: 'x' }] },
    };
    const cwd = fileIn('config.json', JSON.stringify(config, null, 2));
    const r = await runGyreCli(['checkconfig', '-c', 'config.json'], cwd);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    const find = (path: string): string => lines.find((l) => l.startsWith(`error validating config: ${path}: `)) ?? assert.fail(`${path} missing in ${r.stdout}`);
    assert.match(find('http_api.error_mode'), /must be one of: "", transport \(line 8, column 5\)$/);
    assert.match(find('grpc_api.port'), /expected int .*\(line 11, column 5\)$/);
    assert.match(find('channel.namespaces[1].name'), /invalid value "x"/);
  });

  it('suggests the closest key of the same object for a misspelt one', async () => {
    const config = { ...KEY, channel: { namespaces: [{ name: 'chat', histroy_size: 10 }] }, client: { ...KEY.client, chanel_limit: 5 } };
    const cwd = fileIn('config.json', JSON.stringify(config));
    const r = await runGyreCli(['checkconfig', '-c', 'config.json'], cwd);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^warning: unknown key channel\.namespaces\[0\]\.histroy_size \(line 1, column \d+\): did you mean "history_size"\?$/m);
    assert.match(r.stdout, /^warning: unknown key client\.chanel_limit .*: did you mean "channel_limit"\?$/m);
  });

  it('names the line and column of a JSON syntax error', async () => {
    const cwd = fileIn('config.json', '{\n  "client": {\n    "insecure": true,\n  }\n}\n');
    const r = await runGyreCli(['checkconfig', '-c', 'config.json'], cwd);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /invalid JSON at line 4, column 3: expected a double-quoted key\n$/);
  });

  it('says where Centrifugo v5 flat keys moved in v6', async () => {
    const v5 = { token_hmac_secret_key: 's', allowed_origins: ['*'], history_size: 10, history_ttl: '60s', admin: true };
    const cwd = fileIn('config.yaml', Object.entries(v5).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n'));
    const r = await runGyreCli(['checkconfig', '-c', 'config.yaml'], cwd);
    assert.equal(r.code, 1, 'the v5 "admin: true" is an invalid value in v6');
    assert.match(r.stdout, /^warning: unknown key token_hmac_secret_key: Centrifugo v5 key: in v6 it moved to "client\.token\.hmac_secret_key"$/m);
    assert.match(r.stdout, /^warning: unknown key allowed_origins: Centrifugo v5 key: in v6 it moved to "client\.allowed_origins"$/m);
    assert.match(r.stdout, /^warning: unknown key history_size: Centrifugo v5 key: in v6 it moved to "channel\.without_namespace\.history_size"$/m);
    assert.match(r.stdout, /^error validating config: admin: .*in v6 it is "admin\.enabled"/m);
  });

  it('warns about features Gyre does not serve and about configs no client can connect with', async () => {
    const consumer = { name: 'sqs', type: 'aws_sqs', enabled: true, aws_sqs: { queues: ['q'] } };
    const cwd = fileIn('config.json', JSON.stringify({ consumers: [consumer] }));
    const r = await runGyreCli(['checkconfig', '-c', 'config.json'], cwd);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^warning: consumers\[0\]: not supported yet$/m);
    assert.match(r.stdout, /^warning: connections need a token but no token key is set .*every client connection will be refused$/m);
    const keyed = fileIn('config.json', JSON.stringify(KEY));
    const quiet = await runGyreCli(['checkconfig', '-c', 'config.json'], keyed);
    assert.equal(quiet.code, 0);
    assert.equal(quiet.stdout, '');
  });
});

describe('gyre configdoc', { timeout: 30_000 }, () => {
  it('prints Markdown with every key, its type, default and environment variable', async () => {
    const r = await runGyreCli(['configdoc']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^# Gyre configuration reference\n/);
    assert.match(r.stdout, /^## `client`$/m);
    assert.match(r.stdout, /^\| `client\.ping_interval` \| duration \| `"25s"` \| `CENTRIFUGO_CLIENT_PING_INTERVAL` \| .+ \|$/m);
    assert.match(r.stdout, /^\| `http_server\.port` \| int \| `8000` \| `CENTRIFUGO_HTTP_SERVER_PORT` \| /m);
    assert.match(r.stdout, /^\| `channel\.namespaces\[\]\.history_size` \| int \| `0` \| `CENTRIFUGO_CHANNEL_NAMESPACES_<NAME>_HISTORY_SIZE` \| /m);
    assert.match(r.stdout, /^\| `http_api\.error_mode` \| string \| `""` \| .* One of: `""`, `"transport"`\. \|$/m);
  });

  it('--json lists the same keys for tools', async () => {
    const r = await runGyreCli(['configdoc', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const entries = JSON.parse(r.stdout) as { path: string; type: string; default?: unknown; env?: string; doc: string }[];
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.deepEqual(byPath.get('channel.history_meta_ttl'), {
      path: 'channel.history_meta_ttl',
      type: 'duration',
      default: '720h0m0s',
      env: 'CENTRIFUGO_CHANNEL_HISTORY_META_TTL',
      doc: byPath.get('channel.history_meta_ttl')?.doc,
    });
    assert.equal(byPath.get('client.token.hmac_secret_key')?.default, '');
    assert.equal(byPath.get('consumers')?.type, 'object[]');
    assert.ok(entries.length > 500, `${entries.length} keys`);
  });
});

describe('start-up warning without any token key', { timeout: 60_000 }, () => {
  it('logs that every connection will be refused, and stays quiet once a key is set', async () => {
    const bare = await startGyre({});
    const bareLog = bare.output();
    // The exit code is not asserted: a SIGTERM right after the port opens may come before the
    // signal handlers are installed.
    await bare.stop();
    assert.match(bareLog, /NO CLIENT CAN CONNECT: connections need a token but no token key is set/);

    const keyed = await startGyre(KEY);
    const keyedLog = keyed.output();
    await keyed.stop();
    assert.doesNotMatch(keyedLog, /NO CLIENT CAN CONNECT/);
    assert.match(keyedLog, /starting Gyre/);
  });
});
