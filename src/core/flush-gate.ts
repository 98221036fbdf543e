/**
 * When the writers' end-of-turn flush may start: at once, unless a broker holds it. A process
 * that publishes through a broker's PUB/SUB (Redis) receives its own publication back one round
 * trip later, in a later event-loop turn than the request that published it. Without a hold,
 * publications published in one turn are delivered in the next while the requests read in that
 * turn wait for theirs, so the deliveries alternate between two flushes (seen as 15 and 1
 * publications per write in a 16-in-flight flood) and every connection gets twice the writes.
 *
 * A flush that falls due while holds are open waits once: until the last hold closes, a writer
 * queues afresh (more items for a connection not yet queued), or MAX_FLUSH_HOLD_MS pass. A hold
 * costs at most that one wait: nothing is delayed beyond the round trip it covers.
 */

/** The longest a due flush waits for open holds. */
export const MAX_FLUSH_HOLD_MS = 1;

let resume: () => void = () => undefined;
let holds = 0;
/** A due flush is waiting for the holds (it waits once). */
let waiting = false;
let timer: NodeJS.Timeout | undefined;

/** Sets how a waiting flush is started again (the writers' scheduler). */
export function onFlushResume(fn: () => void): void {
  resume = fn;
}

/**
 * Holds the next flush for a publication this process is about to receive back from a broker;
 * release it once the broker's reply is in. Returns the release function (idempotent).
 */
export function holdFlush(): () => void {
  holds++;
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    holds--;
    if (holds === 0 && waiting) resume();
  };
}

/** Whether a due flush may start now; false = onFlushResume's function is called later. */
export function flushMayStart(): boolean {
  if (!waiting) {
    if (holds === 0) return true;
    waiting = true;
    timer = setTimeout(endWait, MAX_FLUSH_HOLD_MS);
    return false;
  }
  waiting = false;
  clearTimeout(timer);
  timer = undefined;
  return true;
}

function endWait(): void {
  timer = undefined;
  if (waiting) resume();
}
