import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedPaths, planReload } from './reload.js';

test('changedPaths names differing leaves down to three levels, arrays as a whole', () => {
  const a = { a: 1, b: { c: { d: { e: 1 } }, l: [1, 2] }, same: { x: 'y' } };
  const b = { a: 2, b: { c: { d: { e: 2 } }, l: [1, 3] }, same: { x: 'y' }, added: true };
  assert.deepEqual(changedPaths(a, b), ['a', 'added', 'b.c.d', 'b.l']);
  assert.deepEqual(changedPaths(a, structuredClone(a)), []);
});

test('planReload: token and namespace changes apply, the rest needs a restart', () => {
  const before = {
    client: { token: { hmac_secret_key: 'a' }, channel_limit: 128 },
    channel: { namespaces: [{ name: 'news', presence: false, subscribe_proxy_enabled: false }], history_meta_ttl: 1000 },
  };
  const after = {
    client: { token: { hmac_secret_key: 'b' }, channel_limit: 10 },
    channel: { namespaces: [{ name: 'news', presence: true, subscribe_proxy_enabled: false }, { name: 'fresh', presence: true }], history_meta_ttl: 2000 },
  };
  assert.deepEqual(planReload(before, after), {
    applied: ['client.token', 'channel.namespaces'],
    restartNeeded: ['channel.history_meta_ttl', 'client.channel_limit'],
  });
});

test('planReload: proxy settings of a namespace are bound at start, so changing them needs a restart', () => {
  const ns = (extra: object) => ({ channel: { namespaces: [{ name: 'news', subscribe_proxy_enabled: false, subscribe_proxy_name: '', ...extra }] } });
  assert.deepEqual(planReload(ns({}), ns({ subscribe_proxy_enabled: true })).restartNeeded, ['channel.namespaces[news] (proxy settings)']);
  assert.deepEqual(planReload(ns({}), ns({ presence: true })).restartNeeded, []);
  const added = { channel: { namespaces: [...ns({}).channel.namespaces, { name: 'hooked', publish_proxy_enabled: true }] } };
  assert.deepEqual(planReload(ns({}), added).restartNeeded, ['channel.namespaces[hooked] (proxy settings)']);
  const plain = { channel: { namespaces: [...ns({}).channel.namespaces, { name: 'plain', publish_proxy_enabled: false }] } };
  assert.deepEqual(planReload(ns({}), plain).restartNeeded, []);
  assert.deepEqual(planReload({ channel: { without_namespace: {} } }, { channel: { without_namespace: { publish_proxy_enabled: true } } }).restartNeeded, [
    'channel.without_namespace (proxy settings)',
  ]);
});
