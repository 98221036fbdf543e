/**
 * The Docker image's entry point and `centrifugo` shim, run directly (no Docker needed): a folder
 * laid out as the image's PATH (`gyre`, its alias `centrifugo`, the entry point) and a working
 * directory holding config.json, as /centrifugo in the image. Centrifugo's command lines and
 * Gyre's own flags and subcommands must start Gyre with that config; SIGTERM reaches Gyre
 * itself (the scripts exec), so it exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, freePort, repoRoot } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

describe('Docker entry point and centrifugo shim', { timeout: 90_000 }, () => {
  let root: string;
  let bin: string;
  let workdir: string;
  /** Port of config.json (the default file) and of other.json (named on the command line only). */
  const ports = { 'config.json': 0, 'other.json': 0 };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'gyre-docker-shim-'));
    bin = join(root, 'bin');
    workdir = join(root, 'centrifugo');
    mkdirSync(bin);
    mkdirSync(workdir);
    // As the Dockerfile installs them.
    copyFileSync(join(repoRoot, 'deploy', 'docker', 'gyre'), join(bin, 'gyre'));
    copyFileSync(join(repoRoot, 'deploy', 'docker', 'docker-entrypoint.sh'), join(bin, 'docker-entrypoint.sh'));
    symlinkSync(join(bin, 'gyre'), join(bin, 'centrifugo'));
    // The port comes from the file only: a Gyre that did not read it would listen on 8000.
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) {
      ports[name] = await freePort();
      writeFileSync(join(workdir, name), JSON.stringify({ http_server: { address: '127.0.0.1', port: String(ports[name]) }, health: { enabled: true } }));
    }
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  /** Runs the entry point with these arguments, as `docker run <image> ...args` does. */
  function run(args: string[]) {
    const child = spawn(join(bin, 'docker-entrypoint.sh'), args, {
      cwd: workdir,
      // PATH as in the image: the shims, then node; GYRE_HOME points the shim at this checkout instead of /app.
      env: cleanEnv({ PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, GYRE_HOME: repoRoot }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    // Nothing outlives its test, even when a broken script starts a server instead of a subcommand.
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const exited = new Promise<number | string | null>((res) =>
      child.once('exit', (code, signal) => {
        clearTimeout(killer);
        res(code ?? signal);
      }),
    );
    return { child, exited, output: () => output };
  }

  const cases: [string[], keyof typeof ports][] = [
    [['centrifugo', '-c', 'config.json'], 'config.json'],
    [['centrifugo', '-c', 'other.json'], 'other.json'],
    [['centrifugo', '--config=/centrifugo/other.json'], 'other.json'],
    [['centrifugo'], 'config.json'],
    [[], 'config.json'],
    [['--config', 'other.json'], 'other.json'],
  ];
  for (const [args, file] of cases) {
    it(`\`${['docker run gyre', ...args].join(' ')}\` starts Gyre with /centrifugo/${file}`, async () => {
      const port = ports[file];
      const p = run(args.map((a) => a.replace('/centrifugo/', `${workdir}/`)));
      try {
        await waitFor(
          async () => {
            if (p.child.exitCode !== null) throw new Error(`exited ${p.child.exitCode}:\n${p.output()}`);
            return fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status === 200, () => false);
          },
          'gyre serving /health on the configured port',
          20_000,
        );
        assert.match(p.output(), /config/i, 'the start log names the config file');
      } finally {
        p.child.kill('SIGTERM');
      }
      assert.equal(await p.exited, 0, p.output());
    });
  }

  it('`docker run gyre version` runs the Gyre subcommand; `docker run gyre sh -c ...` runs the command as given', async () => {
    const version = run(['version']);
    assert.equal(await version.exited, 0, version.output());
    assert.match(version.output(), /\d+\.\d+\.\d+/);
    const sh = run(['sh', '-c', 'echo "in $PWD"']);
    assert.equal(await sh.exited, 0);
    assert.equal(sh.output().trim(), `in ${workdir}`);
  });
});
