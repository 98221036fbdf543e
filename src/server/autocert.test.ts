import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseListenAddr, splitKeyAndChain } from './autocert.js';

const block = (name: string, body: string): string => `-----BEGIN ${name}-----\n${body}\n-----END ${name}-----\n`;

describe('autocert helpers', () => {
  it('splits a Go autocert cache file into its key and its chain', () => {
    const key = block('EC PRIVATE KEY', 'a2V5');
    const leaf = block('CERTIFICATE', 'bGVhZg==');
    const mid = block('CERTIFICATE', 'bWlk');
    assert.deepEqual(splitKeyAndChain(key + leaf + mid), { key, chain: leaf + mid });
    assert.deepEqual(splitKeyAndChain(block('PRIVATE KEY', 'eA==') + leaf)?.chain, leaf);
    assert.equal(splitKeyAndChain(leaf), undefined, 'no key');
    assert.equal(splitKeyAndChain(key), undefined, 'no certificate');
  });

  it('parses http_addr in the Go host:port form', () => {
    assert.deepEqual(parseListenAddr(':80'), { host: '', port: 80 });
    assert.deepEqual(parseListenAddr('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListenAddr('[::1]:81'), { host: '::1', port: 81 });
    assert.throws(() => parseListenAddr('localhost:http'), /invalid listen address/);
  });
});
