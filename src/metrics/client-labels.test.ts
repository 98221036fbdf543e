import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientLabels, UNREGISTERED } from './client-labels.js';

test('the first names and versions label as themselves, later new ones as unregistered', () => {
  const l = new ClientLabels({ maxNames: 3, maxVersions: 4, maxLength: 16 });
  assert.equal(l.name('js'), 'js');
  assert.equal(l.name(''), '');
  assert.equal(l.version('js', '5.0.0'), '5.0.0');
  assert.equal(l.name('go'), 'go');
  assert.equal(l.name('dart'), UNREGISTERED, 'past maxNames');
  assert.equal(l.version('dart', '1.0.0'), UNREGISTERED, 'an unregistered name has an unregistered version');
  assert.equal(l.name('x'.repeat(17)), UNREGISTERED, 'past maxLength');
  assert.equal(l.version('js', 'v'.repeat(17)), UNREGISTERED, 'a long version');
  for (const v of ['5.0.1', '5.0.2', '5.0.3']) assert.equal(l.version('js', v), v);
  assert.equal(l.version('go', '1.0.0'), UNREGISTERED, 'past maxVersions');
});

test('admission is permanent: a value keeps its label however many others come', () => {
  const l = new ClientLabels({ maxNames: 2, maxVersions: 2, maxLength: 64 });
  assert.equal(l.name('a'), 'a');
  assert.equal(l.version('a', '1'), '1');
  for (let i = 0; i < 10_000; i++) {
    l.name(`n${i}`);
    l.version('a', `v${i}`);
  }
  assert.equal(l.name('a'), 'a');
  assert.equal(l.version('a', '1'), '1');
  assert.equal(l.name('n0'), 'n0', 'admitted while there was room');
  assert.equal(l.name('n1'), UNREGISTERED, 'rejected once, rejected for good');
});

test('the default bounds hold under a flood of made-up names', () => {
  const l = new ClientLabels();
  const labels = new Set<string>();
  for (let i = 0; i < 100_000; i++) {
    const name = `name-${i}`;
    labels.add(`${l.name(name)}/${l.version(name, `v${i}`)}`);
  }
  assert.ok(labels.size <= 64 + 1, `${labels.size} label pairs`);
});
