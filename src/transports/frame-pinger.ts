/**
 * WebSocket ping frames for `cf_ws_frame_ping_pong=true` connections (keepalive below the
 * protocol), for Gyre's own WebSocket connections and for `ws` ones alike.
 */
import { WebSocket } from 'ws';

/** A connection the FramePinger keeps alive. */
export interface PingTarget {
  /** Whether anything (a pong, a message) arrived since the last ping; the pinger clears it when pinging. */
  alive: boolean;
  /** Sends a WebSocket ping frame (nothing once the connection is closing). */
  sendPing(): void;
  /** Drops the connection without a closing handshake. */
  terminate(): void;
}

/** A ws WebSocket (compressed and unidirectional connections) as a ping target. */
class WsPingTarget implements PingTarget {
  alive = true;
  constructor(private readonly ws: WebSocket) {}
  readonly mark = (): void => {
    this.alive = true;
  };
  sendPing(): void {
    this.ws.ping();
  }
  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Keeps connections alive with WebSocket ping frames on one shared interval: a connection
 * that neither answered the previous ping nor sent anything since is terminated. Takes
 * lean connections (which track their own liveness) and ws WebSockets.
 */
export class FramePinger {
  private readonly targets = new Map<WebSocket | PingTarget, PingTarget>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  add(conn: WebSocket | PingTarget): void {
    let target: PingTarget;
    if (conn instanceof WebSocket) {
      const t = new WsPingTarget(conn);
      conn.on('pong', t.mark);
      conn.on('message', t.mark);
      target = t;
    } else {
      target = conn;
      target.alive = true;
    }
    this.targets.set(conn, target);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  remove(conn: WebSocket | PingTarget): void {
    this.targets.delete(conn);
    if (this.targets.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    for (const t of this.targets.values()) {
      if (!t.alive) {
        t.terminate();
        continue;
      }
      t.alive = false;
      t.sendPing();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.targets.clear();
  }
}
