/** Channel inspection: active channels, and a channel's presence, counts and recent history. */
import { call } from './api.js';
import { byId, clock, h, num, pretty, replace } from './dom.js';

interface Handlers {
  onAuthError(err: unknown): void;
  /** Opens the tail view on a channel. */
  tail(channel: string): void;
}

let handlers: Handlers;

export function initChannels(hs: Handlers): void {
  handlers = hs;
  byId<HTMLFormElement>('channels-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void loadChannels();
  });
  byId<HTMLFormElement>('inspect-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const ch = byId<HTMLInputElement>('inspect-channel').value.trim();
    if (ch !== '') void inspect(ch);
  });
}

/** Lists active channels matching the pattern field. */
export async function loadChannels(): Promise<void> {
  const pattern = byId<HTMLInputElement>('channels-pattern').value.trim();
  const body = byId('channels-body');
  try {
    const reply = await call<{ channels: Record<string, { num_clients: number }> }>('channels', pattern ? { pattern } : {});
    if (reply.error) throw new Error(reply.error.message);
    const rows = Object.entries(reply.result.channels ?? {}).sort(([a], [b]) => a.localeCompare(b));
    byId('channels-count').textContent = `${rows.length} active`;
    if (rows.length === 0) {
      replace(body, h('tr', {}, h('td', { colspan: 2, class: 'muted' }, 'No channels with subscribers.')));
      return;
    }
    replace(
      body,
      ...rows.map(([ch, info]) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link mono', onclick: () => void inspect(ch) }, ch)),
          h('td', { class: 'numcol' }, num(info.num_clients)),
        ),
      ),
    );
  } catch (err) {
    handlers.onAuthError(err);
    replace(body, h('tr', {}, h('td', { colspan: 2, class: 'error-text' }, (err as Error).message)));
  }
}

/** Keys of a map channel the inspector lists. */
const MAP_KEYS_SHOWN = 50;

/** Shows presence stats, presence, the last publications and, for map channels, the keys of a channel. */
export async function inspect(channel: string): Promise<void> {
  byId<HTMLInputElement>('inspect-channel').value = channel;
  const out = byId('inspector');
  replace(out, h('p', { class: 'muted' }, `Loading ${channel}…`));
  try {
    const [stats, presence, history, mapState] = await Promise.all([
      call<{ num_clients: number; num_users: number }>('presence_stats', { channel }),
      call<{ presence: Record<string, { user: string; client: string }> }>('presence', { channel }),
      call<{ publications: { data: unknown; offset?: number; info?: { user?: string } }[]; offset?: number; epoch?: string }>('history', { channel, limit: 10, reverse: true }),
      call<{ entries: { key: string; data?: unknown; offset?: number }[]; offset?: number; cursor?: string }>('map_read_state', { channel, limit: MAP_KEYS_SHOWN }),
    ]);
    const section = (title: string, ...body: (Node | string)[]): HTMLElement => h('section', { class: 'inspect-part' }, h('h3', {}, title), ...body);
    const unavailable = (e: { message: string }): HTMLElement => h('p', { class: 'muted' }, `Not available: ${e.message}`);
    const presenceList = presence.error
      ? unavailable(presence.error)
      : Object.values(presence.result.presence ?? {}).length === 0
        ? h('p', { class: 'muted' }, 'Nobody here.')
        : h('ul', { class: 'plain' }, ...Object.values(presence.result.presence).map((p) => h('li', { class: 'mono small' }, h('strong', {}, p.user || '(anonymous)'), ' ', p.client)));
    const pubs = history.error
      ? unavailable(history.error)
      : history.result.publications.length === 0
        ? h('p', { class: 'muted' }, 'History is empty.')
        : h(
            'ol',
            { class: 'plain pubs' },
            ...history.result.publications.map((p) => h('li', {}, h('span', { class: 'badge' }, `#${p.offset ?? 0}`), h('pre', { class: 'mono' }, pretty(p.data)))),
          );
    // map_read_state answers 107 for channels outside map namespaces: no map section then.
    const mapKeys = mapState.error
      ? mapState.error.code === 107
        ? undefined
        : unavailable(mapState.error)
      : mapState.result.entries.length === 0
        ? h('p', { class: 'muted' }, 'The map is empty.')
        : h(
            'ul',
            { class: 'plain pubs' },
            ...mapState.result.entries.map((e) => h('li', {}, h('strong', { class: 'mono' }, e.key), ' ', h('span', { class: 'badge' }, `#${e.offset ?? 0}`), h('pre', { class: 'mono' }, pretty(e.data)))),
            mapState.result.cursor ? h('li', { class: 'muted small' }, `first ${MAP_KEYS_SHOWN} keys shown; read the rest with map_read_state`) : null,
          );
    replace(
      out,
      h(
        'div',
        { class: 'inspect-head' },
        h('h2', { class: 'mono' }, channel),
        h('button', { type: 'button', class: 'secondary', onclick: () => handlers.tail(channel) }, 'Tail live'),
        h('span', { class: 'muted small' }, `checked ${clock(Date.now())}`),
      ),
      section(
        'Presence stats',
        stats.error ? unavailable(stats.error) : h('p', {}, `${num(stats.result.num_clients)} clients · ${num(stats.result.num_users)} users`),
      ),
      section('Presence', presenceList),
      section(`History${history.error ? '' : ` (top offset ${history.result.offset ?? 0})`}`, pubs),
      mapKeys ? section(`Map keys${mapState.error ? '' : ` (top offset ${mapState.result.offset ?? 0})`}`, mapKeys) : null,
    );
  } catch (err) {
    handlers.onAuthError(err);
    replace(out, h('p', { class: 'error-text' }, (err as Error).message));
  }
}
