import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger, formatConsoleLine, pinoLevel } from './logger.js';

function capture(level: string): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level, stream: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { lines, logger };
}

describe('logger', () => {
  it('writes Centrifugo-shaped JSON lines', () => {
    const { lines, logger } = capture('info');
    logger.info({ path: '/x' }, 'using config file');
    logger.debug('hidden');
    assert.equal(lines.length, 1);
    const line = lines[0] ?? {};
    assert.equal(line.level, 'info');
    assert.equal(line.message, 'using config file');
    assert.equal(line.path, '/x');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.ok(!('pid' in line) && !('hostname' in line));
  });

  it('maps levels; none is silent and unknown falls back to info', () => {
    assert.equal(pinoLevel('none'), 'silent');
    assert.equal(pinoLevel('TRACE'), 'trace');
    assert.equal(pinoLevel('verbose'), undefined);
    const none = capture('none');
    none.logger.error('x');
    assert.equal(none.lines.length, 0);
    const unknown = capture('verbose');
    unknown.logger.info('x');
    unknown.logger.debug('y');
    assert.equal(unknown.lines.length, 1);
    const trace = capture('trace');
    trace.logger.trace('t');
    assert.equal(trace.lines.length, 1);
  });

  it('appends to log.file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gyre-log-')), 'gyre.log');
    const logger = createLogger({ level: 'warn', file });
    logger.warn({ key: 'a.b' }, 'unknown key in configuration file');
    logger.info('skipped');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0] ?? '{}') as { key: string }).key, 'a.b');
  });

  it('renders the human console format', () => {
    const text = formatConsoleLine('{"level":"warn","time":"2026-07-15T10:00:00Z","key":"x","n":1,"message":"hello"}', false);
    assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WRN hello key=x n=1\n$/);
  });
});
