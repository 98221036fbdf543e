/**
 * A WebSocket fuzz driver for attack tests: many concurrent connections, JSON and Protobuf,
 * each sending a stream of random commands (schema-generated from client.proto and hand-aimed
 * at configured namespaces) of which a share is byte-mutated. A connection the server closes
 * is replaced at once. Bounded by time and frame count; seeded, so a run is reproducible up to
 * network timing.
 */
import WebSocket from 'ws';
import { jsonCodec, protobufCodec } from '../../src/protocol/codec.js';
import { jsonPayloads, mutateMany, Rng } from '../../src/protocol/fuzz.fixtures.js';
import type { Command } from '../../src/protocol/types.js';
import { generate, protoType } from './proto-schema.js';

export interface WsFuzzOptions {
  /** ws://host:port/connection/websocket */
  url: string;
  /** Concurrent connections (half JSON, half Protobuf). */
  connections: number;
  /** Stop sending after this long. */
  durationMs: number;
  /** Stop after this many frames in all. */
  maxFrames: number;
  seed: number;
  /** Share of frames that are byte-mutated (default 0.3). */
  mutateRate?: number;
  /** Channel namespaces the aimed commands use ('' = no namespace). */
  namespaces?: string[];
}

export interface WsFuzzResult {
  frames: number;
  bytes: number;
  /** WebSocket connections opened. */
  opened: number;
  /** Close codes seen, with counts. */
  closes: Map<number, number>;
}

const JSON_PAYLOADS = ['{"a":1}', '[1,"x",null]', '"s"', '0', 'true', '{"text":"hello"}'];

/** An attacker-chosen name: fresh random text, so every one is new to the server. */
function freshName(rng: Rng): string {
  return rng.bytes(4 + rng.int(24)).toString(rng.chance(0.5) ? 'hex' : 'base64url');
}

/** A command aimed at the configured namespaces, with fresh channel names and values. */
function aimedCommand(rng: Rng, namespaces: string[]): Command {
  const ns = rng.pick(namespaces);
  const channel = (ns ? `${ns}:` : '') + freshName(rng);
  const data = Buffer.from(JSON.stringify({ v: freshName(rng) }));
  switch (rng.int(9)) {
    case 0: return { subscribe: { channel, recover: rng.chance(0.3), offset: rng.int(5), epoch: rng.chance(0.5) ? freshName(rng) : '' } };
    case 1: return { unsubscribe: { channel } };
    case 2: return { publish: { channel, data } };
    case 3: return { presence: { channel } };
    case 4: return { presence_stats: { channel } };
    case 5: return { history: { channel, limit: rng.int(20) - 1, since: rng.chance(0.5) ? { offset: rng.int(3), epoch: freshName(rng) } : undefined } };
    case 6: return { rpc: { method: freshName(rng), data } };
    case 7: return { sub_refresh: { channel, token: freshName(rng) } };
    default: return { send: { data } };
  }
}

/** The connect command of a fuzzing connection: client name and version are attacker strings too. */
function connectCommand(rng: Rng): Command {
  // Half the names are long: a server that keeps client names around pays for every byte.
  const long = (): string => (rng.chance(0.5) ? freshName(rng).repeat(8 + rng.int(8)) : freshName(rng));
  const req: Command['connect'] = { name: long(), version: long() };
  if (rng.chance(0.2)) req.token = `${freshName(rng)}.${freshName(rng)}.${freshName(rng)}`;
  if (rng.chance(0.2)) req.headers = { [freshName(rng)]: freshName(rng) };
  return { id: 1, connect: req };
}

/** Runs the fuzz storm; resolves once every connection is closed. */
export async function fuzzWebSocket(opts: WsFuzzOptions): Promise<WsFuzzResult> {
  const result: WsFuzzResult = { frames: 0, bytes: 0, opened: 0, closes: new Map() };
  const deadline = Date.now() + opts.durationMs;
  const namespaces = opts.namespaces ?? [''];
  const mutateRate = opts.mutateRate ?? 0.3;
  const commandType = protoType('Command');
  const more = (): boolean => Date.now() < deadline && result.frames < opts.maxFrames;

  async function worker(index: number): Promise<void> {
    const rng = new Rng(opts.seed * 1000 + index);
    const protobuf = index % 2 === 1;
    const codec = protobuf ? protobufCodec : jsonCodec;
    while (more()) {
      const ws = new WebSocket(opts.url, protobuf ? ['centrifuge-protobuf'] : [], { maxPayload: 1 << 20 });
      result.opened++;
      const closed = new Promise<void>((resolve) => {
        ws.on('close', (code) => {
          result.closes.set(code, (result.closes.get(code) ?? 0) + 1);
          resolve();
        });
        ws.on('error', () => resolve());
      });
      ws.on('message', () => {
        // Replies are read and dropped: this driver only attacks.
      });
      const open = await new Promise<boolean>((resolve) => {
        ws.once('open', () => resolve(true));
        ws.once('error', () => resolve(false));
      });
      if (!open) {
        await closed;
        continue;
      }
      let id = 2;
      const send = (bytes: Uint8Array, rate = mutateRate): void => {
        const out = rng.chance(rate) ? mutateMany(rng, bytes, 3) : bytes;
        ws.send(out, { binary: protobuf });
        result.frames++;
        result.bytes += out.length;
      };
      // Mostly a well-formed connect, so most connections get a session to attack.
      send(codec.encodeCommand(connectCommand(rng)), mutateRate / 3);
      // A connection lives for a random number of frames, unless the server closes it first.
      for (let n = rng.int(400); n > 0 && ws.readyState === WebSocket.OPEN && more(); n--) {
        let cmd: Command;
        if (rng.chance(0.6)) cmd = aimedCommand(rng, namespaces);
        else cmd = generate(rng, commandType, { fill: 0.3, maxDepth: 2 }) as Command;
        cmd.id = id++;
        if (!protobuf) cmd = jsonPayloads(rng, cmd, JSON_PAYLOADS) as Command;
        let bytes: Uint8Array;
        try {
          bytes = codec.encodeCommand(cmd);
        } catch {
          continue; // A generated value this codec cannot carry (e.g. non-JSON bytes).
        }
        send(bytes);
        // Let the socket drain now and then so the storm stays a storm, not a client-side buffer.
        if (n % 16 === 0 || ws.bufferedAmount > 256 * 1024) await new Promise((r) => setImmediate(r));
      }
      if (ws.readyState === WebSocket.OPEN) {
        if (rng.chance(0.3)) ws.terminate();
        else ws.close(1000);
      }
      const t = setTimeout(() => ws.terminate(), 2000);
      await closed;
      clearTimeout(t);
    }
  }

  await Promise.all(Array.from({ length: opts.connections }, (_, i) => worker(i)));
  return result;
}
