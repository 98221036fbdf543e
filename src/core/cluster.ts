/**
 * Cluster membership and node-to-node commands over a Controller: every node announces
 * its info periodically (nodes not heard from for three intervals are dropped), user
 * commands from the server API are broadcast so they reach connections on any node,
 * and surveys gather answers (such as channel lists) from every live node.
 */
import { randomUUID } from 'node:crypto';
import type { NodeInfo } from './node-api.js';
import type { Controller, Logger } from './ports.js';

interface Envelope {
  /** Sender node id. */
  f: string;
  /** Message kind. */
  k: string;
  /** Survey id, for surveys and their replies. */
  i?: string;
  b?: unknown;
}

/** What the cluster asks of the local node. */
export interface ClusterMember {
  readonly id: string;
  localInfo(): NodeInfo;
  /** Applies a broadcast command locally (disconnect, unsubscribe, subscribe, refresh, ...). */
  applyCommand(kind: string, body: unknown): Promise<void>;
  /** Answers a survey from this node's local state. */
  answerSurvey(op: string, body: unknown): Promise<unknown>;
}

export interface ClusterOptions {
  /** How often node info is announced; nodes silent for 3 intervals are dropped. */
  heartbeatMs?: number;
  /** How long a survey waits for replies. */
  surveyTimeoutMs?: number;
}

export class Cluster {
  private readonly nodes = new Map<string, { info: NodeInfo; seen: number }>();
  private readonly surveys = new Map<string, { replies: unknown[]; expected: number; done: (r: unknown[]) => void }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeatMs: number;
  private readonly surveyTimeoutMs: number;

  constructor(
    private readonly member: ClusterMember,
    private readonly controller: Controller,
    private readonly logger: Logger,
    opts: ClusterOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 3000;
    this.surveyTimeoutMs = opts.surveyTimeoutMs ?? 10_000;
  }

  async start(): Promise<void> {
    await this.controller.runControl(this.member.id, (msg) => this.handle(msg));
    this.announce();
    this.timer = setInterval(() => this.announce(), this.heartbeatMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.surveys.values()) s.done(s.replies);
    this.surveys.clear();
  }

  /** Live remote nodes' info (this node excluded). */
  remoteNodes(): NodeInfo[] {
    const now = Date.now();
    const out: NodeInfo[] = [];
    for (const [id, n] of this.nodes) {
      if (now - n.seen > this.heartbeatMs * 3) this.nodes.delete(id);
      else out.push(n.info);
    }
    return out;
  }

  /** True when a node with this id has announced itself recently. */
  knows(nodeId: string): boolean {
    const n = this.nodes.get(nodeId);
    return !!n && Date.now() - n.seen <= this.heartbeatMs * 3;
  }

  /** Sends a command to one node. Rejects when the controller cannot send. */
  sendTo(nodeId: string, kind: string, body: unknown): Promise<void> {
    return this.send({ f: this.member.id, k: kind, b: body }, nodeId);
  }

  /** Sends a command to every other node. Rejects when the controller cannot send. */
  broadcast(kind: string, body: unknown): Promise<void> {
    return this.send({ f: this.member.id, k: kind, b: body });
  }

  /** Asks every live remote node and resolves with their answers (missing ones after the timeout). */
  async survey(op: string, body: unknown): Promise<unknown[]> {
    const expected = this.remoteNodes().length;
    if (expected === 0) return [];
    const id = randomUUID();
    const result = new Promise<unknown[]>((resolve) => {
      const entry = {
        replies: [] as unknown[],
        expected,
        done: (r: unknown[]) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        if (this.surveys.delete(id)) resolve(entry.replies);
      }, this.surveyTimeoutMs);
      this.surveys.set(id, entry);
    });
    await this.send({ f: this.member.id, k: 'survey', i: id, b: { op, body } });
    return result;
  }

  private announce(): void {
    this.send({ f: this.member.id, k: 'node', b: this.member.localInfo() }).catch((err: unknown) => {
      this.logger.debug({ err: (err as Error).message }, 'node info announce failed');
    });
  }

  private send(env: Envelope, toNode?: string): Promise<void> {
    return this.controller.publishControl(Buffer.from(JSON.stringify(env, bytesReplacer)), toNode);
  }

  private handle(msg: Uint8Array): void {
    let env: Envelope;
    try {
      env = JSON.parse(Buffer.from(msg).toString('utf8'), bytesReviver) as Envelope;
    } catch {
      this.logger.warn({}, 'malformed control message');
      return;
    }
    if (env.f === this.member.id) return;
    switch (env.k) {
      case 'node':
        this.nodes.set(env.f, { info: env.b as NodeInfo, seen: Date.now() });
        return;
      case 'survey': {
        const { op, body } = (env.b ?? {}) as { op: string; body: unknown };
        this.member
          .answerSurvey(op, body)
          .then((answer) => this.send({ f: this.member.id, k: 'survey_reply', i: env.i, b: answer }, env.f))
          .catch((err: unknown) => this.logger.warn({ err, op }, 'survey answer failed'));
        return;
      }
      case 'survey_reply': {
        const s = env.i ? this.surveys.get(env.i) : undefined;
        if (!s) return;
        s.replies.push(env.b);
        if (s.replies.length >= s.expected) {
          this.surveys.delete(env.i!);
          s.done(s.replies);
        }
        return;
      }
      default:
        this.member.applyCommand(env.k, env.b).catch((err: unknown) => this.logger.warn({ err, kind: env.k }, 'control command failed'));
    }
  }
}

/** Byte arrays travel as {"$b64": "..."} inside control messages. */
function bytesReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const orig = this[key];
  if (orig instanceof Uint8Array) return { $b64: Buffer.from(orig.buffer, orig.byteOffset, orig.byteLength).toString('base64') };
  return value;
}

function bytesReviver(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && typeof (value as { $b64?: unknown }).$b64 === 'string') {
    return new Uint8Array(Buffer.from((value as { $b64: string }).$b64, 'base64'));
  }
  return value;
}
