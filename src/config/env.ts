/** Environment variable naming and `.env` parsing for configuration. */

/** Primary prefix (Centrifugo compatible). */
export const ENV_PREFIX = 'CENTRIFUGO_';
/** Alias prefix; the CENTRIFUGO_ variable wins when both are set. */
export const ENV_ALIAS_PREFIX = 'GYRE_';

/** The env name tail of a dotted path: `client.token.hmac_secret_key` → `CLIENT_TOKEN_HMAC_SECRET_KEY`. */
export function envTail(path: string): string {
  return path.toUpperCase().replace(/\./g, '_');
}

/** The env form of a named-array item name: upper-cased, `.` and `-` replaced by `_`. */
export function itemEnvName(name: string): string {
  return name.toUpperCase().replace(/[.-]/g, '_');
}

/**
 * True for variables under our prefixes that are never config keys: Kubernetes service
 * variables (`..._PORT...`, `..._SERVICE_...`) and `*_VAR_*` substitution variables.
 */
export function isIgnoredEnv(name: string): boolean {
  for (const prefix of ['CENTRIFUGO', 'GYRE']) {
    if (!name.startsWith(`${prefix}_`)) continue;
    if (name.startsWith(`${prefix}_VAR_`)) return true;
    if (new RegExp(`^${prefix}(_[A-Z0-9_]+)?_(PORT|SERVICE_)`).test(name)) return true;
  }
  return false;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    return v
      .slice(1, -1)
      .replace(/\\n/g, '\n')
      .replace(/\\r/g, '\r')
      .replace(/\\t/g, '\t')
      .replace(/\\(["\\$])/g, '$1');
  }
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1);
  // Unquoted: an inline comment starts at " #".
  const hash = v.search(/\s#/);
  return (hash >= 0 ? v.slice(0, hash) : v).trim();
}

/**
 * Parses `.env` text: `KEY=value` lines, optional `export `, `#` comments, single or double
 * quoted values (double quotes may span lines and understand \n escapes).
 */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) continue;
    const key = m[1] ?? '';
    let value = m[2] ?? '';
    if (value.startsWith('"') && !/^"(?:[^"\\]|\\.)*"\s*(#.*)?$/.test(value)) {
      // Multi-line double-quoted value.
      while (i + 1 < lines.length && !/(?:^|[^\\])"\s*$/.test(value.slice(1))) {
        i++;
        value += `\n${lines[i] ?? ''}`;
      }
    }
    const closed = /^("(?:[^"\\]|\\.)*"|'[^']*')\s*(#.*)?$/s.exec(value);
    out[key] = unquote(closed !== null ? (closed[1] ?? '') : value);
  }
  return out;
}
