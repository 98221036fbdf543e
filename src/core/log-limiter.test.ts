import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogLimiter } from './log-limiter.js';
import type { Logger } from './ports.js';

function recorder(): { logger: Logger; lines: [string, object, string?][] } {
  const lines: [string, object, string?][] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push([level, obj, msg]);
  return { logger: { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

test('one line per message per window at its level, the rest at debug, with the held-back count on the next', () => {
  let now = 0;
  const { logger, lines } = recorder();
  const limiter = new LogLimiter(logger, { intervalMs: 1000, now: () => now });
  for (let i = 0; i < 5; i++) limiter.log('warn', { i }, 'malformed frame');
  limiter.log('warn', {}, 'bad request');
  assert.deepEqual(
    lines.filter(([l]) => l === 'warn').map(([, o, m]) => [o, m]),
    [
      [{ i: 0 }, 'malformed frame'],
      [{}, 'bad request'],
    ],
  );
  assert.equal(lines.filter(([l]) => l === 'debug').length, 4, 'held-back lines still reach debug');
  now = 1000;
  limiter.log('warn', { i: 9 }, 'malformed frame');
  assert.deepEqual(lines.at(-1), ['warn', { i: 9, suppressed: 4 }, 'malformed frame']);
  now = 2500;
  limiter.log('warn', { i: 10 }, 'malformed frame');
  assert.deepEqual(lines.at(-1), ['warn', { i: 10 }, 'malformed frame'], 'nothing held back in the last window');
});

test('keys are bounded: past maxKeys the limiter starts over', () => {
  const limiter = new LogLimiter(undefined, { maxKeys: 3, now: () => 0 });
  for (const k of ['a', 'b', 'c']) assert.equal(limiter.allow(k), 0);
  assert.equal(limiter.allow('a'), undefined, 'a is within its window');
  assert.equal(limiter.allow('d'), 0, 'a fourth key clears the others');
  assert.equal(limiter.allow('a'), 0, 'a was forgotten');
});
