/** Live tail of a channel: publications, joins and leaves as they reach the node. */
import { tail, type TailEvent } from './api.js';
import { byId, clock, h, pretty, replace } from './dom.js';

const MAX_ROWS = 200;
let abort: AbortController | undefined;

export function initTail(onAuthError: (err: unknown) => void): void {
  byId<HTMLFormElement>('tail-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (abort) stopTail();
    else startTail(byId<HTMLInputElement>('tail-channel').value.trim(), onAuthError);
  });
  byId('tail-clear').addEventListener('click', () => replace(byId('tail-list')));
}

/** Starts tailing `channel` (stopping any previous tail). */
export function startTail(channel: string, onAuthError: (err: unknown) => void): void {
  stopTail();
  if (channel === '') return;
  byId<HTMLInputElement>('tail-channel').value = channel;
  const ctl = new AbortController();
  abort = ctl;
  setState(`Connecting to ${channel}…`, true);
  tail(channel, (e) => onEvent(e), ctl.signal).then(
    () => {
      if (abort === ctl) {
        abort = undefined;
        setState('Stream ended.', false);
      }
    },
    (err: unknown) => {
      if (ctl.signal.aborted) return;
      abort = undefined;
      onAuthError(err);
      setState(`Error: ${(err as Error).message}`, false);
    },
  );
}

export function stopTail(): void {
  if (!abort) return;
  abort.abort();
  abort = undefined;
  setState('Stopped.', false);
}

function setState(text: string, running: boolean): void {
  byId('tail-state').textContent = text;
  const btn = byId<HTMLButtonElement>('tail-toggle');
  btn.textContent = running ? 'Stop' : 'Start';
  btn.classList.toggle('danger', running);
  byId('tail-live').classList.toggle('on', running);
}

function onEvent(e: TailEvent): void {
  if (e.type === 'subscribed') {
    setState(`Listening on ${e.channel ?? ''}`, true);
    return;
  }
  if (e.type === 'error') {
    setState(`Error: ${e.message ?? ''}`, false);
    return;
  }
  const list = byId('tail-list');
  const body = e.type === 'publication' ? (e.data !== undefined ? pretty(e.data) : (e.text ?? `base64: ${e.base64 ?? ''}`)) : `${e.info?.user || '(anonymous)'} ${e.info?.client ?? ''}`;
  const row = h(
    'li',
    { class: `tail-row ${e.type}` },
    h(
      'div',
      { class: 'tail-meta' },
      h('span', { class: `badge ${e.type}` }, e.type),
      e.offset ? h('span', { class: 'mono small' }, `#${e.offset}`) : null,
      e.type === 'publication' && e.info?.user ? h('span', { class: 'small muted' }, `from ${e.info.user}`) : null,
      h('time', { class: 'small muted' }, clock(e.time ?? Date.now())),
    ),
    h('pre', { class: 'mono' }, body),
  );
  list.prepend(row);
  while (list.children.length > MAX_ROWS) list.lastElementChild?.remove();
}
