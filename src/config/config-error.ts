/**
 * The one error type of configuration loading and validation. `path` is the dotted key
 * (array items as `[i]`) the problem is about, or `''` when it concerns the whole file;
 * the message always names that path so an operator can find the line to fix.
 */
export class ConfigError extends Error {
  /** Stable code callers branch on (never on the message text). */
  readonly code = 'CONFIG_INVALID';
  /** Dotted config path, e.g. `channel.namespaces[2].history_ttl`; `''` for the whole file. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(path === '' || message.startsWith(path) ? message : `${path}: ${message}`, options);
    this.name = 'ConfigError';
    this.path = path;
  }
}
