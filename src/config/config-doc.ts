/**
 * Documentation of every configuration key, generated from the schema: what `gyre configdoc`
 * prints (Markdown, or JSON for tools).
 */
import { formatDuration } from './duration.js';
import { ENV_PREFIX } from './env.js';
import type { FieldSpec, Fields } from './schema-dsl.js';
import { CONFIG_SCHEMA } from './schema.js';

/** One documented key. */
export interface ConfigDocEntry {
  /** Dotted path; items of object arrays appear as `[]` (`channel.namespaces[].presence`). */
  readonly path: string;
  /** `string`, `int`, `bool`, `duration`, `string[]`, `map`, `object` or `object[]`. */
  readonly type: string;
  /** Default in file form (durations as Go strings); absent for objects and object arrays. */
  readonly default?: unknown;
  readonly doc: string;
  /** Environment variable; `<NAME>` stands for the item name of a named array. Absent when none. */
  readonly env?: string;
  /** Allowed values of a string key. */
  readonly choices?: readonly string[];
  /** Experimental section left out of `defaultconfig`. */
  readonly experimental?: boolean;
}

function fileDefault(spec: FieldSpec): unknown {
  if (spec.kind === 'duration') return formatDuration(typeof spec.default === 'number' ? spec.default : 0);
  if (Array.isArray(spec.default)) return [...(spec.default as unknown[])];
  return spec.default;
}

function walk(fields: Fields, path: string, env: string | undefined, hidden: boolean, out: ConfigDocEntry[]): void {
  for (const [key, spec] of Object.entries(fields)) {
    const p = path === '' ? key : `${path}.${key}`;
    const e = env === undefined ? undefined : `${env}${env === '' ? '' : '_'}${key.toUpperCase()}`;
    const experimental = hidden || spec.hidden === true;
    const entry: ConfigDocEntry = {
      path: p,
      type: spec.kind,
      doc: spec.doc,
      ...(spec.kind === 'object' || spec.kind === 'object[]' ? {} : { default: fileDefault(spec) }),
      ...(e === undefined || spec.kind === 'object' ? {} : { env: ENV_PREFIX + e }),
      ...(spec.choices === undefined ? {} : { choices: spec.choices }),
      ...(experimental ? { experimental: true } : {}),
    };
    out.push(entry);
    if (spec.kind === 'object') walk(spec.fields ?? {}, p, e, experimental, out);
    if (spec.kind === 'object[]') {
      walk(spec.fields ?? {}, `${p}[]`, spec.named === true && e !== undefined ? `${e}_<NAME>` : undefined, experimental, out);
    }
  }
}

/** Every key of the schema in schema order, objects before their keys. */
export function configDoc(): ConfigDocEntry[] {
  const out: ConfigDocEntry[] = [];
  walk(CONFIG_SCHEMA, '', '', false, out);
  return out;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function shownDefault(e: ConfigDocEntry): string {
  if (!('default' in e)) return '';
  return `\`${cell(JSON.stringify(e.default))}\``;
}

function row(e: ConfigDocEntry): string {
  const notes = [
    e.doc,
    e.choices === undefined ? '' : `One of: ${e.choices.map((c) => `\`${JSON.stringify(c)}\``).join(', ')}.`,
    e.experimental === true ? '(experimental)' : '',
  ].filter((s) => s !== '');
  const env = e.env === undefined ? '' : `\`${e.env}\``;
  return `| \`${e.path}\` | ${e.type} | ${shownDefault(e)} | ${env} | ${cell(notes.join(' '))} |`;
}

const HEADER = '| key | type | default | env | description |\n|---|---|---|---|---|';

/**
 * The documentation as Markdown: one section per top-level group with a table of its keys
 * (type, default, environment variable, description), top-level scalar keys last.
 */
export function configDocMarkdown(): string {
  const entries = configDoc();
  const lines: string[] = [
    '# Gyre configuration reference',
    '',
    'Every key Gyre reads, from its configuration schema (`gyre configdoc`). Keys follow the',
    'Centrifugo v6 tree; durations use Go syntax; a zero value means "use the default".',
    '',
  ];
  const scalars: ConfigDocEntry[] = [];
  for (const [key, spec] of Object.entries(CONFIG_SCHEMA)) {
    const top = entries.find((e) => e.path === key);
    if (top === undefined) continue;
    if (spec.kind !== 'object' && spec.kind !== 'object[]') {
      scalars.push(top);
      continue;
    }
    lines.push(`## \`${key}\``, '', spec.doc, '', HEADER);
    for (const e of entries) if (e.path === key || e.path.startsWith(`${key}.`) || e.path.startsWith(`${key}[]`)) lines.push(row(e));
    lines.push('');
  }
  if (scalars.length > 0) {
    lines.push('## Top-level keys', '', HEADER, ...scalars.map(row), '');
  }
  return lines.join('\n');
}
