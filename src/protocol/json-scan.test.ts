import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSON_INVALID, JSON_VALID, JSON_VALID_WITH_NEWLINES, scanJson } from './json-scan.js';

const scan = (s: string): number => scanJson(Buffer.from(s, 'utf8'));
const parses = (s: string): boolean => {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
};

test('accepts JSON texts of every kind', () => {
  const valid = ['{}', '[]', '""', '0', '-0', '1.5e-3', '2E+10', 'true', 'false', 'null', ' {"a" : [1, {"b":null}, "x\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"]} ', '[[[[[]]]]]', '{"":""}', '"é✓😀"', '[1,-2.25,3e0]'];
  for (const s of valid) assert.equal(scan(s), JSON_VALID, s);
  assert.equal(scan('{\n"a":\r\n1\n}'), JSON_VALID_WITH_NEWLINES);
});

test('rejects everything else', () => {
  const invalid = ['', ' ', '{', '}', '[1,]', '{"a":1,}', '{"a"}', '{a:1}', "'x'", '01', '1.', '.5', '-', '+1', '1e', 'tru', 'nul', 'True', '"\\x"', '"\\u12g4"', '"a\nb"', '"\t"', '1 2', '{}{}', '[1 2]', '{"a":1 "b":2}', '[}', '{]', 'NaN', 'Infinity', '"unterminated', '\u00a0{}'];
  for (const s of invalid) assert.equal(scan(s), JSON_INVALID, JSON.stringify(s));
});

test('agrees with JSON.parse on random inputs', () => {
  const alphabet = '{}[]",:0123456789-+.eEtrufalsn \n\t\\u/ab\u0001';
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let validSeen = 0;
  for (let k = 0; k < 200000; k++) {
    let s = '';
    const len = rand(10);
    for (let i = 0; i < len; i++) s += alphabet[rand(alphabet.length)];
    const ok = parses(s);
    if (ok) validSeen++;
    assert.equal(scan(s) !== JSON_INVALID, ok, JSON.stringify(s));
  }
  assert.ok(validSeen > 100, `only ${validSeen} valid samples`);
});

test('agrees with JSON.parse on mutations of valid documents', () => {
  const docs = ['{"a":[1,2.5e-3,{"b":null,"c":"x\\ny\\u00e9"}],"d":true,"e":false}', '[{"k":""},[],{},-0.0,"\\"q\\""]', '{"text":"hello","n":[1,23,456]}'];
  const alphabet = '{}[]",:0123456789-.eE \n\\u';
  let seed = 777;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let k = 0; k < 60000; k++) {
    const doc = docs[k % docs.length] as string;
    const at = rand(doc.length + 1);
    const ch = alphabet[rand(alphabet.length)] as string;
    const op = rand(3);
    const s = op === 0 ? doc.slice(0, at) + doc.slice(at + 1) : op === 1 ? doc.slice(0, at) + ch + doc.slice(at) : doc.slice(0, at) + ch + doc.slice(at + 1);
    assert.equal(scan(s) !== JSON_INVALID, parses(s), JSON.stringify(s));
  }
});

test('deep nesting does not overflow the stack', () => {
  const depth = 100000;
  assert.equal(scan('['.repeat(depth) + ']'.repeat(depth)), JSON_VALID);
  assert.equal(scan('['.repeat(depth) + ']'.repeat(depth - 1)), JSON_INVALID);
});
