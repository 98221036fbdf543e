/**
 * What a configuration reload (SIGHUP) may change in a running server: the token verifiers
 * and the channel namespace options. Everything else was built at start; a change to it is
 * reported so the operator knows a restart is needed.
 */

/** The outcome of a successful reload. */
export interface ReloadOutcome {
  /** Reloadable sections that changed and are now in effect. */
  applied: string[];
  /** Dotted config paths that changed but only take effect after a restart. */
  restartNeeded: string[];
}

/** Config paths swapped in by a reload (the token verifiers and namespace options). */
export const RELOADABLE_PATHS: readonly string[] = [
  'client.token',
  'client.subscription_token',
  'client.insecure_skip_token_signature_verify',
  'channel.without_namespace',
  'channel.namespaces',
  'channel.publication_data_format',
];

/** Only paths down to this depth are named (`channel.proxy.subscribe`, not its every header). */
const MAX_DEPTH = 3;

/**
 * Dotted paths (at most MAX_DEPTH deep) whose values differ between two configurations,
 * sorted. Plain objects are compared key by key; arrays and scalars as a whole.
 */
export function changedPaths(before: unknown, after: unknown, prefix = ''): string[] {
  const out: string[] = [];
  collect(before, after, prefix, 0, out);
  return out.sort();
}

function collect(a: unknown, b: unknown, path: string, depth: number, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b) && depth < MAX_DEPTH) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) collect(a[k], b[k], path === '' ? k : `${path}.${k}`, depth + 1, out);
    return;
  }
  if (!sameValue(a, b)) out.push(path);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

function underAny(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(`${r}.`));
}

/** A namespace's settings that bind it to backend proxies, which are built at start. */
function proxySettings(ns: unknown): string {
  if (!isPlainObject(ns)) return '';
  const picked: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ns)) {
    if (k.includes('proxy')) picked[k] = v;
  }
  if (isPlainObject(ns.map)) for (const [k, v] of Object.entries(ns.map)) if (k.includes('proxy')) picked[`map.${k}`] = v;
  if (isPlainObject(ns.shared_poll)) picked['shared_poll.proxy_name'] = ns.shared_poll.proxy_name;
  return JSON.stringify(picked);
}

/**
 * Splits the differences between the running and the new configuration into the reloadable
 * sections that changed and the paths that need a restart. Proxy bindings of namespaces are
 * built at start, so a namespace whose proxy settings change (or a new one that sets any) is
 * listed as needing a restart even though its other options apply at once.
 */
export function planReload(before: object, after: object): ReloadOutcome {
  const changed = changedPaths(before, after);
  const applied = RELOADABLE_PATHS.filter((root) => changed.some((p) => underAny(p, [root])));
  const restartNeeded = changed.filter((p) => !underAny(p, RELOADABLE_PATHS));
  const b = before as { channel?: { without_namespace?: unknown; namespaces?: readonly unknown[] } };
  const a = after as typeof b;
  if (proxySettings(b.channel?.without_namespace) !== proxySettings(a.channel?.without_namespace)) {
    restartNeeded.push('channel.without_namespace (proxy settings)');
  }
  const oldByName = new Map<string, unknown>();
  for (const ns of b.channel?.namespaces ?? []) if (isPlainObject(ns)) oldByName.set(String(ns.name), ns);
  for (const ns of a.channel?.namespaces ?? []) {
    if (!isPlainObject(ns)) continue;
    const old = oldByName.get(String(ns.name));
    // A new namespace without proxies needs nothing built; one with proxies does.
    if (old === undefined ? hasEnabledProxy(ns) : proxySettings(old) !== proxySettings(ns)) {
      restartNeeded.push(`channel.namespaces[${String(ns.name)}] (proxy settings)`);
    }
  }
  return { applied, restartNeeded };
}

function hasEnabledProxy(ns: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(ns)) if (k.endsWith('_proxy_enabled') && v === true) return true;
  if (isPlainObject(ns.map)) for (const [k, v] of Object.entries(ns.map)) if (k.endsWith('_proxy_enabled') && v === true) return true;
  return ns.subscription_type === 'shared_poll';
}
