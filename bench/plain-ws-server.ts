// Plain `ws` fan-out server for the benchmark: what a straightforward Node server
// does. The publication payload is encoded once per protocol, then `ws.send` is
// called for every subscriber: `ws` builds a frame header per send and writes it
// right away, so every delivery is its own socket write (no coalescing).
// Protocol and endpoints as reference-server.ts (see mini-protocol.ts).
//
// Usage: node dist/bench/plain-ws-server.js --port N [--host 127.0.0.1] [--watch-stdin]

import { encodePublication, parseServerArgs, runMiniServer, type MiniConnection } from './mini-protocol.js';

const channels = new Map<string, Set<MiniConnection>>();

runMiniServer(parseServerArgs(process.argv.slice(2)), {
  subscribe(conn, channel) {
    let set = channels.get(channel);
    if (!set) {
      set = new Set();
      channels.set(channel, set);
    }
    set.add(conn);
  },
  remove(conn) {
    for (const ch of conn.channels) {
      const set = channels.get(ch);
      if (!set) continue;
      set.delete(conn);
      if (set.size === 0) channels.delete(ch);
    }
  },
  publish(channel, dataJson) {
    const set = channels.get(channel);
    if (!set) return;
    let json: Buffer | undefined;
    let protobuf: Buffer | undefined;
    for (const conn of set) {
      if (conn.proto === 'json') conn.ws.send((json ??= encodePublication('json', channel, dataJson)), { binary: false });
      else conn.ws.send((protobuf ??= encodePublication('protobuf', channel, dataJson)), { binary: true });
    }
  },
});
