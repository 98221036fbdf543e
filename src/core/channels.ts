/**
 * Channel name anatomy: optional private prefix, namespace before the first boundary,
 * user-limited part after the user boundary. Resolves a channel to its namespace options.
 */
import type { ChannelOptions, NamespaceOptions } from './channel-options.js';
import type { CompilePattern, PatternMatcher } from './ports.js';

export interface ChannelRules {
  without_namespace?: ChannelOptions;
  namespaces?: NamespaceOptions[];
  private_prefix?: string;
  namespace_boundary?: string;
  user_boundary?: string;
  user_separator?: string;
  /** Marks client-limited channels ("" = off): `news&<clientId>` is for that client only. */
  client_channel_boundary?: string;
  max_length?: number;
  /** Global default meta TTL in ms. */
  history_meta_ttl?: number;
  publication_data_format?: string;
}

export interface ResolvedChannel {
  namespace: string;
  /** The part after the namespace boundary (the whole channel without a namespace). */
  rest: string;
  options: ChannelOptions;
}

const asciiRe = /^[\x00-\x7F]*$/;

/** The part of ChannelRules a running resolver can swap (configuration reload). */
export type ReloadableChannelRules = Pick<ChannelRules, 'without_namespace' | 'namespaces' | 'publication_data_format'>;

export class ChannelResolver {
  private byName = new Map<string, NamespaceOptions>();
  private withoutNamespace: ChannelOptions = {};
  private regexes = new Map<string, PatternMatcher | null>();
  readonly privatePrefix: string;
  readonly namespaceBoundary: string;
  readonly userBoundary: string;
  readonly userSeparator: string;
  readonly clientBoundary: string;
  readonly maxLength: number;

  /**
   * `compileRegex` compiles a configured channel_regex; the server passes its Go (RE2) compiler
   * so configurations written for Centrifugo behave the same, in linear time.
   */
  constructor(
    private readonly rules: ChannelRules,
    private readonly compileRegex: CompilePattern = compileEcmaScript,
  ) {
    this.installOptions(rules);
    this.privatePrefix = rules.private_prefix ?? '$';
    this.namespaceBoundary = rules.namespace_boundary ?? ':';
    this.userBoundary = rules.user_boundary ?? '#';
    this.userSeparator = rules.user_separator ?? ',';
    this.clientBoundary = rules.client_channel_boundary ?? '';
    this.maxLength = rules.max_length || 255;
  }

  /**
   * Swaps the namespace options (and the global publication data format) for the ones given;
   * the next resolve() sees them. Boundaries, prefixes and the meta TTL keep their start values.
   * Options already handed out (existing subscriptions) are not touched.
   */
  reloadOptions(rules: ReloadableChannelRules): void {
    this.installOptions(rules);
    this.regexes = new Map();
  }

  /**
   * Indexes the namespaces, each with the global `publication_data_format` filled in where it
   * sets none, so every reader of resolved options (client and server API) sees the effective one.
   */
  private installOptions(rules: ReloadableChannelRules): void {
    const globalFormat = rules.publication_data_format ?? '';
    const withFormat = <T extends ChannelOptions>(o: T): T => (o.publication_data_format || !globalFormat ? o : { ...o, publication_data_format: globalFormat });
    const byName = new Map<string, NamespaceOptions>();
    for (const ns of rules.namespaces ?? []) byName.set(ns.name, withFormat(ns));
    this.byName = byName;
    this.withoutNamespace = withFormat(rules.without_namespace ?? {});
  }

  /** Options for a channel, or undefined when its namespace is not configured. */
  resolve(channel: string): ResolvedChannel | undefined {
    let name = channel;
    if (this.privatePrefix && name.startsWith(this.privatePrefix)) name = name.slice(this.privatePrefix.length);
    const idx = this.namespaceBoundary ? name.indexOf(this.namespaceBoundary) : -1;
    if (idx < 0) return { namespace: '', rest: name, options: this.withoutNamespace };
    const ns = name.slice(0, idx);
    const options = this.byName.get(ns);
    if (!options) return undefined;
    return { namespace: ns, rest: name.slice(idx + this.namespaceBoundary.length), options };
  }

  /** Name check: the namespace's channel_regex must match the rest, else the channel must be ASCII. */
  validName(channel: string, resolved: ResolvedChannel): boolean {
    const pattern = resolved.options.channel_regex;
    if (pattern) {
      let re = this.regexes.get(pattern);
      if (re === undefined) {
        try {
          re = this.compileRegex(pattern);
        } catch {
          // Validated at start; a pattern that still fails to compile rejects every name.
          re = null;
        }
        this.regexes.set(pattern, re);
      }
      return re !== null && re.test(resolved.rest);
    }
    return asciiRe.test(channel);
  }

  isPrivate(channel: string): boolean {
    return this.privatePrefix !== '' && channel.startsWith(this.privatePrefix);
  }

  /** True when the channel is user-limited (contains the user boundary). */
  isUserLimited(channel: string): boolean {
    return this.userBoundary !== '' && channel.includes(this.userBoundary);
  }

  /** True when `user` is listed after the user boundary of a user-limited channel. */
  userAllowed(channel: string, user: string): boolean {
    const idx = channel.lastIndexOf(this.userBoundary);
    if (idx < 0) return false;
    const users = channel.slice(idx + this.userBoundary.length).split(this.userSeparator);
    return users.includes(user);
  }

  /**
   * False when client-limited channels are on, the channel contains the client boundary and
   * the part after its last occurrence is not `clientId`; true otherwise.
   */
  clientAllowed(channel: string, clientId: string): boolean {
    if (this.clientBoundary === '') return true;
    const idx = channel.lastIndexOf(this.clientBoundary);
    return idx < 0 || channel.slice(idx + this.clientBoundary.length) === clientId;
  }

  /** The personal channel of a user in a namespace ('' = no namespace). */
  personalChannel(namespace: string, user: string): string {
    return namespace ? `${namespace}${this.namespaceBoundary}${this.userBoundary}${user}` : `${this.userBoundary}${user}`;
  }

  historyMetaTtlMs(options: ChannelOptions): number {
    return options.history_meta_ttl || this.rules.history_meta_ttl || 0;
  }

  /** The effective publication data format of resolved options (the global default is already merged in). */
  dataFormat(options: ChannelOptions): string {
    return options.publication_data_format ?? '';
  }
}

/** History is on when both size and TTL are positive. */
export function historyEnabled(o: ChannelOptions): boolean {
  return (o.history_size ?? 0) > 0 && (o.history_ttl ?? 0) > 0;
}

/** The fallback compiler when none is injected: JavaScript RegExp syntax, unanchored. */
function compileEcmaScript(source: string): PatternMatcher {
  const re = new RegExp(source, 'u');
  return {
    test: (input) => re.test(input),
    groups(input) {
      const m = re.exec(input);
      if (m === null) return undefined;
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(m.groups ?? {})) out[name] = value ?? '';
      return out;
    },
  };
}
