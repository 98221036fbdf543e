import pino from 'pino';

/** Options of {@link createLogger}: the `log` config section plus an optional test stream. */
export interface CreateLoggerOptions {
  /** none, trace, debug, info, warn, error, fatal (case-insensitive); unknown → info. */
  level?: string;
  /** Append JSON lines to this file instead of the console. */
  file?: string;
  /** Write to this stream instead (tests); overrides `file` and console selection. */
  stream?: pino.DestinationStream;
}

const LEVELS: Readonly<Record<string, pino.LevelWithSilent>> = {
  none: 'silent',
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
};

const SHORT: Readonly<Record<string, string>> = {
  trace: 'TRC',
  debug: 'DBG',
  info: 'INF',
  warn: 'WRN',
  error: 'ERR',
  fatal: 'FTL',
};

const COLOR: Readonly<Record<string, string>> = {
  trace: '\x1b[35m',
  debug: '\x1b[33m',
  info: '\x1b[32m',
  warn: '\x1b[31m',
  error: '\x1b[1;31m',
  fatal: '\x1b[1;31m',
};

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Renders one JSON log line in the human console format (`2006-01-02 15:04:05 INF msg k=v`). */
export function formatConsoleLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, message, ...fields } = rec;
  const d = typeof time === 'string' ? new Date(time) : new Date();
  const ts = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const lvl = String(level);
  const short = SHORT[lvl] ?? lvl.toUpperCase();
  const tag = color ? `${COLOR[lvl] ?? ''}${short}\x1b[0m` : short;
  const rest = Object.entries(fields)
    .map(([k, v]) => `${color ? `\x1b[36m${k}=\x1b[0m` : `${k}=`}${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${ts} ${tag} ${String(message ?? '')}${rest === '' ? '' : ` ${rest}`}\n`;
}

function consoleStream(): pino.DestinationStream {
  const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  return {
    write(line: string): void {
      process.stdout.write(formatConsoleLine(line, color));
    },
  };
}

/** Maps a configured level to a pino level; undefined when the name is unknown. */
export function pinoLevel(level: string | undefined): pino.LevelWithSilent | undefined {
  return LEVELS[(level ?? 'info').toLowerCase()];
}

/**
 * Creates the process logger. JSON lines shaped like Centrifugo's
 * (`{"level":"info",...,"time":"<RFC 3339>","message":"..."}`): appended to `file` when
 * set, human format on stdout when it is a TTY, JSON on stderr otherwise. `none` = silent.
 */
export function createLogger(opts: CreateLoggerOptions = {}): pino.Logger {
  const level = pinoLevel(opts.level) ?? 'info';
  let stream: pino.DestinationStream;
  if (opts.stream !== undefined) stream = opts.stream;
  else if (opts.file !== undefined && opts.file !== '') {
    stream = pino.destination({ dest: opts.file, append: true, mkdir: true, sync: true });
  } else if (process.stdout.isTTY === true && process.platform !== 'win32') stream = consoleStream();
  else stream = pino.destination({ dest: 2, sync: true });
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'message',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}
