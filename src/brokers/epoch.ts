import { randomInt } from 'node:crypto';

const EPOCH_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * A fresh stream epoch for external brokers: 8 crypto-random letters from [a-zA-Z], as the Go server
 * makes them. Scripts receive a candidate with every call and keep it only when they create a stream.
 */
export function newStreamEpoch(): string {
  let epoch = '';
  for (let i = 0; i < 8; i++) epoch += EPOCH_LETTERS[randomInt(EPOCH_LETTERS.length)];
  return epoch;
}
