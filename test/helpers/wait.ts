/** Deadline-based waiting helpers for end-to-end tests: poll conditions, await events. */

/** Anything with on/off listeners (Node EventEmitter, the SDK's emitters). */
export interface Emitterish {
  on(event: string, fn: (...args: any[]) => void): unknown;
  off(event: string, fn: (...args: any[]) => void): unknown;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until it is truthy; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves with the first `event` whose argument passes `pred`; rejects after `timeoutMs`. */
export function waitEvent<T = any>(emitter: Emitterish, event: string, opts: { timeoutMs?: number; pred?: (ctx: T) => boolean } = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, fn);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event "${event}"`));
    }, timeoutMs);
    const fn = (ctx: T): void => {
      if (opts.pred && !opts.pred(ctx)) return;
      clearTimeout(timer);
      emitter.off(event, fn);
      resolve(ctx);
    };
    emitter.on(event, fn);
  });
}

/** Records every `event` argument into the returned array (live). */
export function collect<T = any>(emitter: Emitterish, event: string): T[] {
  const out: T[] = [];
  emitter.on(event, (ctx: T) => out.push(ctx));
  return out;
}

/** A unique, readable suffix for channel names so tests never share state. */
let seq = 0;
export function uniq(prefix = 'c'): string {
  seq++;
  return `${prefix}${Date.now().toString(36)}${seq}${Math.floor(Math.random() * 1e6).toString(36)}`;
}
