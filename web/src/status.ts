/** The dashboard: cluster totals, a connection sparkline and one row per node, polled live. */
import { call } from './api.js';
import { byId, h, num, replace, uptime } from './dom.js';

interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  num_clients?: number;
  num_users?: number;
  num_channels?: number;
  num_subs?: number;
  uptime?: number;
  consumers?: ConsumerInfo[];
}

interface ConsumerInfo {
  name: string;
  type: string;
  status: string;
  processed: number;
  errors: number;
  pending?: number;
  last_error?: string;
  last_error_at?: string;
}

const POLL_MS = 1500;
const HISTORY = 80;
const history: number[] = [];
let timer: number | undefined;

/** Starts polling `info` (idempotent); `onError` gets failures such as an expired token. */
export function startStatus(onError: (err: unknown) => void): void {
  if (timer !== undefined) return;
  const tick = async (): Promise<void> => {
    try {
      const reply = await call<{ nodes: NodeInfo[] }>('info');
      if (reply.error) throw new Error(reply.error.message);
      render(reply.result.nodes ?? []);
      byId('live').classList.remove('stale');
    } catch (err) {
      byId('live').classList.add('stale');
      onError(err);
    }
  };
  void tick();
  timer = window.setInterval(() => void tick(), POLL_MS);
}

export function stopStatus(): void {
  if (timer !== undefined) window.clearInterval(timer);
  timer = undefined;
}

function render(nodes: NodeInfo[]): void {
  nodes.sort((a, b) => a.name.localeCompare(b.name));
  const sum = (k: keyof NodeInfo): number => nodes.reduce((acc, n) => acc + (Number(n[k]) || 0), 0);
  const clients = sum('num_clients');
  history.push(clients);
  if (history.length > HISTORY) history.shift();
  const card = (label: string, value: number, id: string): HTMLElement =>
    h('div', { class: 'card stat', 'data-stat': id }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, num(value)));
  replace(
    byId('totals'),
    card('Nodes', nodes.length, 'nodes'),
    card('Connections', clients, 'clients'),
    card('Users', sum('num_users'), 'users'),
    card('Channels', sum('num_channels'), 'channels'),
    card('Subscriptions', sum('num_subs'), 'subs'),
  );
  replace(byId('spark'), sparkline(history));
  byId('spark-note').textContent = `last 2 minutes · peak ${num(Math.max(...history))}`;
  replace(
    byId('nodes-body'),
    ...nodes.map((n) =>
      h(
        'tr',
        { 'data-node': n.name },
        h('th', { scope: 'row' }, h('span', { class: 'node-name' }, n.name), h('span', { class: 'muted mono small' }, n.uid.slice(0, 8))),
        h('td', {}, n.version),
        h('td', {}, uptime(n.uptime ?? 0)),
        h('td', { class: 'numcol', 'data-col': 'clients' }, num(n.num_clients)),
        h('td', { class: 'numcol' }, num(n.num_users)),
        h('td', { class: 'numcol' }, num(n.num_channels)),
        h('td', { class: 'numcol' }, num(n.num_subs)),
      ),
    ),
  );
  renderConsumers(nodes);
}

/** One row per async consumer of every node; the card stays hidden when no node runs any. */
function renderConsumers(nodes: NodeInfo[]): void {
  const rows = nodes.flatMap((n) => (n.consumers ?? []).map((c) => ({ node: n.name, c })));
  byId('consumers-card').hidden = rows.length === 0;
  replace(
    byId('consumers-body'),
    ...rows.map(({ node, c }) =>
      h(
        'tr',
        { 'data-consumer': c.name },
        h('th', { scope: 'row' }, c.name),
        h('td', {}, node),
        h('td', {}, c.type),
        h('td', { 'data-col': 'status', class: c.status === 'running' ? '' : 'warn' }, c.status),
        h('td', { class: 'numcol', 'data-col': 'processed' }, num(c.processed)),
        h('td', { class: 'numcol' }, num(c.errors)),
        h('td', { class: 'numcol', 'data-col': 'pending' }, c.pending === undefined ? '–' : num(c.pending)),
        h('td', { class: 'small', title: c.last_error_at ?? '' }, c.last_error ?? ''),
      ),
    ),
  );
}

/** An SVG area chart of recent connection counts. */
function sparkline(values: number[]): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const w = 600;
  const ht = 64;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Connections over the last ${values.length} samples, now ${values[values.length - 1] ?? 0}`);
  const max = Math.max(1, ...values);
  const step = w / Math.max(1, HISTORY - 1);
  const offset = (HISTORY - values.length) * step;
  const pts = values.map((v, i) => `${(offset + i * step).toFixed(1)},${(ht - 4 - (v / max) * (ht - 10)).toFixed(1)}`);
  if (pts.length === 1) pts.unshift(`${(offset - step).toFixed(1)},${pts[0]!.split(',')[1]}`);
  const base = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: 0, x2: w, y1: ht - 4, y2: ht - 4, class: 'spark-base' })) base.setAttribute(k, String(v));
  const area = document.createElementNS(ns, 'polygon');
  area.setAttribute('points', `${pts.join(' ')} ${w},${ht - 4} ${(offset - (values.length === 1 ? step : 0)).toFixed(1)},${ht - 4}`);
  area.setAttribute('class', 'spark-area');
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('class', 'spark-line');
  svg.append(base, area, line);
  return svg;
}
