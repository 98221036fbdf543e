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

/**
 * Several configuration problems found in one pass. It is a ConfigError about the first
 * problem's path; `errors` lists every problem in the order found and the message joins
 * their messages, one per line.
 */
export class ConfigErrors extends ConfigError {
  /** Every problem, at least two. */
  readonly errors: readonly ConfigError[];

  constructor(errors: readonly ConfigError[]) {
    super(errors[0]?.path ?? '', errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
    this.errors = errors;
  }
}

/** The problems an error carries: its `errors` for ConfigErrors, else itself. */
export function configProblems(err: ConfigError): readonly ConfigError[] {
  return err instanceof ConfigErrors ? err.errors : [err];
}

/** Throws nothing for no problems, the problem itself for one, ConfigErrors for several. */
export function throwConfigProblems(errors: readonly ConfigError[]): void {
  if (errors.length === 1 && errors[0] !== undefined) throw errors[0];
  if (errors.length > 1) throw new ConfigErrors(errors);
}
