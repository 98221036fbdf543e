/**
 * The IPC messages between the `gyre --workers N` supervisor (node:cluster primary) and its
 * worker processes, and how a worker learns its place. Messages are plain JSON; each side
 * checks what it receives with the guards below and ignores anything else.
 */
import type { MetricFamilyJson } from '../metrics/index.js';

/**
 * Environment variable set on each forked worker: `<index>/<total>` (index from 1). Its name
 * stays clear of the CENTRIFUGO_ and GYRE_ prefixes, which are configuration.
 */
export const WORKER_ENV = '__GYRE_WORKER';

/** A worker's place among its siblings. */
export interface WorkerSlotInfo {
  /** 1-based, stable across restarts of the same slot. */
  index: number;
  total: number;
}

/** Reads WORKER_ENV; undefined when this process is not a supervised worker. */
export function workerSlotFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerSlotInfo | undefined {
  const m = /^(\d+)\/(\d+)$/.exec(env[WORKER_ENV] ?? '');
  if (m === null) return undefined;
  const index = Number(m[1]);
  const total = Number(m[2]);
  return index >= 1 && index <= total ? { index, total } : undefined;
}

/** Node name of a worker: the configured (or host) name plus `-w<index>`. */
export function workerNodeName(base: string, index: number): string {
  return `${base}-w${index}`;
}

/** Worker → supervisor. */
export type WorkerToSupervisor =
  /** The worker's server listens; `node` is its node name. */
  | { type: 'gyre:ready'; node: string }
  /** A /metrics request arrived: asks for the merged exposition of every worker. */
  | { type: 'gyre:metrics-request'; id: number }
  /** The answer to a collect request: this worker's registry, or why it has none. */
  | { type: 'gyre:metrics-json'; id: number; metrics: MetricFamilyJson[]; error?: string };

/** Supervisor → worker. */
export type SupervisorToWorker =
  /** How many workers are ready out of how many wanted (sent on every change). */
  | { type: 'gyre:workers'; up: number; total: number }
  /** Asks for this worker's registry as JSON. */
  | { type: 'gyre:metrics-collect'; id: number }
  /** The merged exposition for a metrics-request, or why there is none. */
  | { type: 'gyre:metrics-result'; id: number; text?: string; error?: string };

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The message as a WorkerToSupervisor, or undefined when it is not one. */
export function asWorkerMessage(v: unknown): WorkerToSupervisor | undefined {
  const m = record(v);
  if (m === undefined) return undefined;
  if (m.type === 'gyre:ready' && typeof m.node === 'string') return { type: m.type, node: m.node };
  if (m.type === 'gyre:metrics-request' && isId(m.id)) return { type: m.type, id: m.id };
  if (m.type === 'gyre:metrics-json' && isId(m.id) && Array.isArray(m.metrics)) {
    return { type: m.type, id: m.id, metrics: m.metrics as MetricFamilyJson[], ...(typeof m.error === 'string' ? { error: m.error } : {}) };
  }
  return undefined;
}

/** The message as a SupervisorToWorker, or undefined when it is not one. */
export function asSupervisorMessage(v: unknown): SupervisorToWorker | undefined {
  const m = record(v);
  if (m === undefined) return undefined;
  if (m.type === 'gyre:workers' && isCount(m.up) && isCount(m.total)) return { type: m.type, up: m.up, total: m.total };
  if (m.type === 'gyre:metrics-collect' && isId(m.id)) return { type: m.type, id: m.id };
  if (m.type === 'gyre:metrics-result' && isId(m.id)) {
    if (typeof m.text === 'string') return { type: m.type, id: m.id, text: m.text };
    return { type: m.type, id: m.id, error: typeof m.error === 'string' ? m.error : 'no metrics' };
  }
  return undefined;
}
