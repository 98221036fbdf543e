/** The actions page: a form for every server API method, run through the admin pipeline. */
import { call } from './api.js';
import { byId, h, pretty, replace } from './dom.js';

type Kind = 'text' | 'json' | 'number' | 'bool' | 'list';

interface Field {
  /** Request key; dots nest (`disconnect.code`). */
  name: string;
  label: string;
  kind: Kind;
  required?: boolean;
  placeholder?: string;
  value?: string;
  hint?: string;
  /** Textarea height (json and list fields). */
  rows?: number;
}

interface MethodSpec {
  summary: string;
  fields: Field[];
}

const channel = (required = true): Field => ({ name: 'channel', label: 'Channel', kind: 'text', required, placeholder: 'news' });
const target: Field[] = [
  { name: 'user', label: 'User ID', kind: 'text', required: true, placeholder: '42' },
  { name: 'client', label: 'Client ID', kind: 'text', hint: 'Only this connection' },
  { name: 'session', label: 'Session ID', kind: 'text' },
];

/** Every method of the server API, in the order the reference documents them. */
export const METHODS: Record<string, MethodSpec> = {
  publish: {
    summary: 'Publish data into a channel.',
    fields: [
      channel(),
      { name: 'data', label: 'Data (JSON)', kind: 'json', required: true, value: '{"text": "hello"}' },
      { name: 'idempotency_key', label: 'Idempotency key', kind: 'text' },
      { name: 'tags', label: 'Tags (JSON object)', kind: 'json', placeholder: '{"kind": "news"}', rows: 2 },
      { name: 'skip_history', label: 'Skip history', kind: 'bool' },
    ],
  },
  broadcast: {
    summary: 'Publish the same data into many channels.',
    fields: [
      { name: 'channels', label: 'Channels', kind: 'list', required: true, placeholder: 'news, sport', hint: 'Comma or newline separated' },
      { name: 'data', label: 'Data (JSON)', kind: 'json', required: true, value: '{"text": "hello"}' },
      { name: 'skip_history', label: 'Skip history', kind: 'bool' },
    ],
  },
  subscribe: { summary: "Subscribe a user's connections to a channel.", fields: [...target.slice(0, 1), channel(), ...target.slice(1)] },
  unsubscribe: { summary: "Unsubscribe a user's connections from a channel.", fields: [...target.slice(0, 1), channel(), ...target.slice(1)] },
  disconnect: {
    summary: "Disconnect a user's connections.",
    fields: [
      ...target,
      { name: 'disconnect.code', label: 'Disconnect code', kind: 'number', placeholder: '4000', hint: 'Optional custom code and reason' },
      { name: 'disconnect.reason', label: 'Disconnect reason', kind: 'text' },
    ],
  },
  refresh: {
    summary: "Refresh a user's connection expiration.",
    fields: [...target, { name: 'expire_at', label: 'Expire at (Unix seconds)', kind: 'number' }, { name: 'expired', label: 'Mark expired', kind: 'bool' }],
  },
  presence: { summary: 'Clients subscribed to a channel (presence must be on).', fields: [channel()] },
  presence_stats: { summary: 'Client and user counts of a channel.', fields: [channel()] },
  history: {
    summary: 'Publications kept in channel history.',
    fields: [channel(), { name: 'limit', label: 'Limit', kind: 'number', value: '10' }, { name: 'reverse', label: 'Newest first', kind: 'bool' }],
  },
  history_remove: { summary: 'Remove the history of a channel.', fields: [channel()] },
  channels: { summary: 'Active channels (with at least one subscriber).', fields: [{ name: 'pattern', label: 'Pattern', kind: 'text', placeholder: 'chat:*' }] },
  info: { summary: 'Information about the running nodes.', fields: [] },
  rpc: {
    summary: 'Call a server-side RPC extension.',
    fields: [
      { name: 'method', label: 'RPC method', kind: 'text', required: true, placeholder: 'getUserStatus' },
      { name: 'params', label: 'Params (JSON)', kind: 'json', value: '{}' },
    ],
  },
  map_publish: {
    summary: 'Set a key of a map channel (map namespaces only).',
    fields: [
      channel(),
      { name: 'key', label: 'Key', kind: 'text', required: true, placeholder: 'user-42' },
      { name: 'data', label: 'Data (JSON)', kind: 'json', required: true, value: '{"status": "online"}' },
      { name: 'key_mode', label: 'Key mode', kind: 'text', placeholder: 'if_new or if_exists', hint: 'Empty: always write' },
      { name: 'idempotency_key', label: 'Idempotency key', kind: 'text' },
      { name: 'tags', label: 'Tags (JSON object)', kind: 'json', placeholder: '{"team": "red"}', rows: 2 },
    ],
  },
  map_remove: {
    summary: 'Remove a key from a map channel.',
    fields: [channel(), { name: 'key', label: 'Key', kind: 'text', required: true }, { name: 'idempotency_key', label: 'Idempotency key', kind: 'text' }],
  },
  map_read_state: {
    summary: 'Read the keys of a map channel, a page at a time.',
    fields: [
      channel(),
      { name: 'limit', label: 'Page size', kind: 'number', value: '100' },
      { name: 'cursor', label: 'Cursor', kind: 'text', hint: 'The cursor of the previous page' },
      { name: 'key', label: 'Single key', kind: 'text' },
    ],
  },
  map_read_stream: {
    summary: 'Read the change stream of a map channel.',
    fields: [
      channel(),
      { name: 'limit', label: 'Limit', kind: 'number', value: '10' },
      { name: 'since_offset', label: 'Since offset', kind: 'number' },
      { name: 'since_epoch', label: 'Since epoch', kind: 'text' },
      { name: 'reverse', label: 'Newest first', kind: 'bool' },
    ],
  },
  map_stats: { summary: 'Number of keys in a map channel.', fields: [channel()] },
  map_clear: { summary: 'Drop every key, the stream and the epoch of a map channel.', fields: [channel()] },
  shared_poll_publish: {
    summary: 'Push a new version of a key to clients tracking it (versioned shared-poll namespaces with publish_enabled).',
    fields: [
      channel(),
      { name: 'key', label: 'Key', kind: 'text', required: true, placeholder: 'item-1' },
      { name: 'version', label: 'Version', kind: 'number', required: true, hint: 'Above the version clients have' },
      { name: 'data', label: 'Data (JSON)', kind: 'json', required: true, value: '{"price": 100}' },
      { name: 'epoch', label: 'Epoch', kind: 'text' },
    ],
  },
};

let current = 'publish';

/** Renders the method picker and the form of the selected method. */
export function initActions(onAuthError: (err: unknown) => void): void {
  const picker = byId<HTMLSelectElement>('method');
  replace(picker, ...Object.keys(METHODS).map((m) => h('option', { value: m }, m)));
  picker.addEventListener('change', () => select(picker.value));
  byId<HTMLFormElement>('action-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void run(onAuthError);
  });
  select(current);
}

/** Switches the form to `method` (also used from other views, e.g. "Publish" on a channel). */
export function select(method: string, preset: Record<string, string> = {}): void {
  const spec = METHODS[method];
  if (!spec) return;
  current = method;
  byId<HTMLSelectElement>('method').value = method;
  byId('method-summary').textContent = spec.summary;
  const fields = spec.fields.map((f) => fieldEl(f, preset[f.name]));
  replace(byId('action-fields'), ...(fields.length > 0 ? fields : [h('p', { class: 'muted' }, 'This method takes no parameters.')]));
  replace(byId('action-result'));
}

function fieldEl(f: Field, preset: string | undefined): HTMLElement {
  const id = `f-${f.name.replace('.', '-')}`;
  const hintId = f.hint ? `${id}-hint` : undefined;
  const common = { id, name: f.name, required: !!f.required, placeholder: f.placeholder, 'aria-describedby': hintId };
  const value = preset ?? f.value ?? '';
  if (f.kind === 'bool') {
    return h('div', { class: 'field check' }, h('input', { ...common, type: 'checkbox', checked: value === 'true' }), h('label', { for: id }, f.label));
  }
  const input =
    f.kind === 'json' || f.kind === 'list'
      ? h('textarea', { ...common, rows: f.rows ?? (f.kind === 'json' ? 4 : 2), spellcheck: 'false', class: 'mono' })
      : h('input', { ...common, type: f.kind === 'number' ? 'number' : 'text', autocomplete: 'off', spellcheck: 'false' });
  input.value = value;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, f.label, f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    input,
    f.hint ? h('small', { id: hintId, class: 'muted' }, f.hint) : null,
  );
}

/** Builds the request from the form; throws with a field-specific message on bad JSON. */
function collect(spec: MethodSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of spec.fields) {
    const el = byId<HTMLInputElement | HTMLTextAreaElement>(`f-${f.name.replace('.', '-')}`);
    let v: unknown;
    if (f.kind === 'bool') v = (el as HTMLInputElement).checked || undefined;
    else if (el.value.trim() === '') v = undefined;
    else if (f.kind === 'number') v = Number(el.value);
    else if (f.kind === 'list') v = el.value.split(/[\s,]+/).filter((s) => s !== '');
    else if (f.kind === 'json') {
      try {
        v = JSON.parse(el.value);
      } catch {
        el.setAttribute('aria-invalid', 'true');
        el.focus();
        throw new Error(`${f.label}: not valid JSON`);
      }
    } else v = el.value.trim();
    el.removeAttribute('aria-invalid');
    if (v === undefined) continue;
    const [head, tail] = f.name.split('.') as [string, string | undefined];
    if (tail) out[head] = { ...((out[head] as object | undefined) ?? {}), [tail]: v };
    else out[head] = v;
  }
  return out;
}

async function run(onAuthError: (err: unknown) => void): Promise<void> {
  const spec = METHODS[current];
  if (!spec) return;
  const result = byId('action-result');
  const button = byId<HTMLButtonElement>('action-submit');
  let params: Record<string, unknown>;
  try {
    params = collect(spec);
  } catch (err) {
    replace(result, h('div', { class: 'result error', role: 'alert' }, (err as Error).message));
    return;
  }
  button.disabled = true;
  const started = performance.now();
  try {
    const reply = await call(current, params);
    const ms = (performance.now() - started).toFixed(0);
    const ok = !reply.error;
    replace(
      result,
      h(
        'div',
        { class: `result ${ok ? 'ok' : 'error'}`, role: 'status' },
        h('div', { class: 'result-head' }, h('span', { class: `badge ${ok ? 'ok' : 'error'}` }, ok ? 'OK' : `Error ${reply.error?.code}`), h('span', { class: 'muted' }, `${current} · ${ms} ms`)),
        h('pre', { class: 'mono', tabindex: 0, 'aria-label': 'Response' }, pretty(ok ? reply.result : reply.error)),
      ),
    );
  } catch (err) {
    onAuthError(err);
    replace(result, h('div', { class: 'result error', role: 'alert' }, (err as Error).message));
  } finally {
    button.disabled = false;
  }
}
