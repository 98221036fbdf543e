/**
 * What can be checked of the deployment files without docker or helm: the Dockerfile's stages,
 * user, port and entrypoint, that everything it copies exists and is not dockerignored, that
 * the Helm chart's YAML parses, that templates reference only values that exist, that their
 * blocks balance, and that the chart's Gyre config loads cleanly. Also what `npm pack` would
 * publish: the compiled library with its declarations, the CLI, the admin UI, the protos and
 * the license, and nothing of the tests, benchmarks or source maps.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadValues } from '../src/config/testing.js';
import { notSupportedWarnings } from '../src/config/index.js';
import { repoRoot } from './helpers/server-process.js';

const chartDir = join(repoRoot, 'deploy', 'helm', 'gyre');
const read = (...p: string[]): string => readFileSync(join(repoRoot, ...p), 'utf8');

interface Stage {
  from: string;
  name: string;
  lines: string[];
}

/** Dockerfile instructions (continuation lines joined, comments dropped), grouped by stage. */
function dockerStages(text: string): Stage[] {
  const joined = text.replace(/\\\n/g, ' ');
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1] as string, name: from[2] ?? String(stages.length), lines: [] });
    else stages[stages.length - 1]?.lines.push(line);
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages(read('Dockerfile'));
  const build = stages[0] as Stage;
  const runtime = stages[stages.length - 1] as Stage;
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

  it('has a build stage and a slim runtime stage on Node 20', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages) assert.match(s.from, /^node:20-(alpine|slim)$/);
    assert.ok(build.lines.some((l) => /^RUN npm ci\b/.test(l)), 'build stage runs npm ci');
    assert.ok(build.lines.some((l) => /^RUN npm run build\b/.test(l)), 'build stage builds');
    assert.ok(runtime.lines.some((l) => /^RUN npm ci\b.*--omit=dev/.test(l)), 'runtime installs production dependencies only');
  });

  it('runs as a non-root user in /centrifugo, exposes 8000 and runs `centrifugo` through the entry point', () => {
    const user = runtime.lines.filter((l) => /^USER\s/i.test(l)).pop();
    assert.ok(user, 'USER in the runtime stage');
    assert.doesNotMatch(user, /^USER\s+(root|0)(:|$)/i);
    assert.ok(runtime.lines.includes('EXPOSE 8000'));
    assert.equal(runtime.lines.filter((l) => l.startsWith('WORKDIR')).pop(), 'WORKDIR /centrifugo');
    const json = (prefix: string): unknown => JSON.parse((runtime.lines.find((l) => l.startsWith(prefix)) ?? '').slice(prefix.length).trim() || 'null');
    assert.deepEqual(json('ENTRYPOINT'), ['docker-entrypoint.sh']);
    assert.deepEqual(json('CMD'), ['centrifugo']);
    // The shims land on PATH, `centrifugo` is an alias of `gyre`, and the shim's GYRE_HOME default is the app folder.
    assert.ok(runtime.lines.includes('COPY deploy/docker/gyre /usr/local/bin/gyre'));
    assert.ok(runtime.lines.includes('COPY deploy/docker/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh'));
    assert.ok(runtime.lines.some((l) => /^RUN ln -s \/usr\/local\/bin\/gyre \/usr\/local\/bin\/centrifugo\b/.test(l)));
    assert.ok(runtime.lines.includes('WORKDIR /app') && runtime.lines.includes('COPY bin ./bin') && runtime.lines.includes('COPY proto ./proto'));
    assert.match(read('deploy', 'docker', 'gyre'), /exec node "\$\{GYRE_HOME:-\/app\}\/bin\/gyre\.js" "\$@"/);
  });

  it('copies only paths that exist and are not dockerignored', () => {
    for (const stage of stages) {
      for (const line of stage.lines.filter((l) => /^COPY\s/i.test(l))) {
        const parts = line.split(/\s+/).slice(1);
        const fromStage = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const args = parts.filter((p) => !p.startsWith('--'));
        for (const src of args.slice(0, -1)) {
          if (fromStage) {
            const origin = stages.find((s) => s.name === fromStage);
            assert.ok(origin, `${line}: stage ${fromStage} exists`);
            // Paths copied from the build stage are what `npm run build` produces here too.
            const rel = src.replace(/^\/src\//, '');
            assert.ok(existsSync(join(repoRoot, rel)), `${line}: ${rel} is produced by the build`);
          } else {
            assert.ok(existsSync(join(repoRoot, src)), `${line}: ${src} exists`);
            assert.ok(!ignored.includes(src.replace(/\/$/, '')), `${line}: ${src} is not dockerignored`);
          }
        }
      }
    }
    assert.ok(ignored.includes('node_modules') && ignored.includes('dist'), 'the context leaves out local builds');
  });

  it('the build stage gets everything tsconfig and the build scripts read', () => {
    const copied = build.lines.filter((l) => /^COPY\s/i.test(l)).flatMap((l) => l.split(/\s+/).slice(1, -1));
    const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[] };
    for (const pattern of tsconfig.include) assert.ok(copied.includes(pattern.split('/')[0] as string), `${pattern} is copied`);
    for (const needed of ['package.json', 'package-lock.json', 'web', 'scripts', 'bin']) assert.ok(copied.includes(needed), `${needed} is copied`);
  });
});

describe('Helm chart', () => {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, any>;
  const templates = readdirSync(join(chartDir, 'templates')).map((name) => ({ name, text: readFileSync(join(chartDir, 'templates', name), 'utf8') }));

  it('has a valid Chart.yaml and the expected templates', () => {
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'gyre');
    assert.match(String(chart.version), /^\d+\.\d+\.\d+$/);
    const pkg = JSON.parse(read('package.json')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
    for (const t of ['deployment.yaml', 'service.yaml', 'configmap.yaml', 'ingress.yaml', '_helpers.tpl']) assert.ok(templates.some((x) => x.name === t), t);
  });

  it('templates reference only values that exist in values.yaml', () => {
    let refs = 0;
    for (const { name, text } of templates) {
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_]\w*)+)/g)) {
        refs++;
        const path = (m[1] as string).slice(1).split('.');
        let node: any = values;
        for (const key of path) {
          assert.ok(node !== null && typeof node === 'object' && key in node, `${name}: .Values.${path.join('.')} is not in values.yaml`);
          node = node[key];
        }
      }
    }
    assert.ok(refs > 20, `found ${refs} value references`);
  });

  it('template blocks balance', () => {
    for (const { name, text } of templates) {
      const opens = [...text.matchAll(/\{\{-?\s*(if|with|range|define)\b/g)].length;
      const ends = [...text.matchAll(/\{\{-?\s*end\s*-?\}\}/g)].length;
      assert.equal(opens, ends, `${name}: ${opens} blocks opened, ${ends} ended`);
    }
  });

  it('probes /health on the internal port the config really uses', () => {
    const deployment = templates.find((t) => t.name === 'deployment.yaml')?.text ?? '';
    assert.match(deployment, /if \.Values\.config\.health\.enabled/);
    assert.match(deployment, /readinessProbe:\s+httpGet:\s+path: \/health\s+port: internal/);
    assert.equal(values.config.health.enabled, true);
    assert.equal(Number(values.config.http_server.internal_port), values.service.internalPort);
    assert.equal(Number(values.podAnnotations['prometheus.io/port']), values.service.internalPort);
    assert.ok(values.terminationGracePeriodSeconds > 30, 'grace period outlasts shutdown.timeout');
  });

  it("the chart's config loads in Gyre without unknown keys or unsupported features", () => {
    const loaded = loadValues(values.config);
    assert.deepEqual(loaded.unknownKeys, []);
    assert.deepEqual(notSupportedWarnings(loaded.config), []);
    assert.equal(loaded.config.shutdown.timeout, 30_000);
  });
});

describe('npm package', () => {
  it('has true metadata: license file, engines, bin, types', () => {
    const pkg = JSON.parse(read('package.json')) as Record<string, any>;
    assert.equal(pkg.license, 'MIT');
    assert.match(read('LICENSE'), /^MIT License\n\nCopyright \(c\) Gyre contributors\n/);
    assert.ok(typeof pkg.description === 'string' && pkg.description.length > 20);
    assert.ok(Array.isArray(pkg.keywords) && pkg.keywords.includes('centrifugo'));
    assert.equal(pkg.engines.node, '>=20');
    assert.equal(pkg.bin.gyre, 'bin/gyre.js');
    assert.ok(existsSync(join(repoRoot, pkg.bin.gyre)));
    for (const field of ['repository', 'homepage', 'bugs']) {
      // Only fields that point somewhere real: none is invented.
      if (pkg[field] !== undefined) assert.doesNotMatch(JSON.stringify(pkg[field]), /example|TODO|placeholder|your-/i, field);
    }
  });

  it('packs the library, CLI, UI, protos, README and LICENSE, without tests, bench or source maps', { timeout: 60_000 }, async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
    const [report] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const files = new Set((report?.files ?? []).map((f) => f.path));
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/gyre.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/web/index.html', 'proto/api.proto']) {
      assert.ok(files.has(f), `${f} is packed`);
    }
    // Every compiled library module comes with its declarations.
    const js = [...files].filter((f) => f.startsWith('dist/src/') && f.endsWith('.js'));
    assert.ok(js.length > 100, `${js.length} modules packed`);
    for (const f of js) assert.ok(files.has(f.replace(/\.js$/, '.d.ts')), `${f} has declarations`);
    const unwanted = [...files].filter((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.startsWith('src/') || f.startsWith('test/') || f.startsWith('bench/') || f.endsWith('.map') || /\.test(-helper)?\.(js|d\.ts)$/.test(f));
    assert.deepEqual(unwanted, []);
    // The packed library never reaches into what was left out.
    for (const f of js) {
      for (const m of readFileSync(join(repoRoot, f), 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
        const target = join(f, '..', m[1] as string);
        assert.ok(files.has(target), `${f} imports ${target}, which is not packed`);
      }
    }
  });
});
