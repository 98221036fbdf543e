/**
 * Bounded label values for what clients name themselves. ConnectRequest.name and .version are
 * attacker-chosen strings; used as Prometheus labels as they are, every new value would add a
 * series to the registry for the life of the process. The first values seen are kept as they
 * are; past the bounds (or past a length) a value reports as "unregistered", Centrifugo's word
 * for a client name it does not label.
 */

/** The label value of a client name or version that is not labelled as itself. */
export const UNREGISTERED = 'unregistered';

export interface ClientLabelLimits {
  /** Distinct client names labelled as themselves. */
  maxNames: number;
  /** Distinct (name, version) pairs labelled as themselves. */
  maxVersions: number;
  /** Longer names and versions are never labelled as themselves. */
  maxLength: number;
}

const DEFAULT_LIMITS: ClientLabelLimits = { maxNames: 64, maxVersions: 256, maxLength: 64 };

/**
 * Maps client names and versions to label values. Admission is permanent, so a value maps to
 * the same label for the life of the process: a gauge's inc at connect and dec at disconnect
 * always meet the same series.
 */
export class ClientLabels {
  private readonly names = new Set<string>();
  private readonly versions = new Set<string>();

  constructor(private readonly limits: ClientLabelLimits = DEFAULT_LIMITS) {}

  /** The client_name label of a client name. */
  name(name: string): string {
    if (this.names.has(name)) return name;
    if (name.length > this.limits.maxLength || this.names.size >= this.limits.maxNames) return UNREGISTERED;
    this.names.add(name);
    return name;
  }

  /** The client_version label of a version sent with `name`; unregistered names have unregistered versions. */
  version(name: string, version: string): string {
    if (this.name(name) === UNREGISTERED) return UNREGISTERED;
    const key = `${name}\u0000${version}`;
    if (this.versions.has(key)) return version;
    if (version.length > this.limits.maxLength || this.versions.size >= this.limits.maxVersions) return UNREGISTERED;
    this.versions.add(key);
    return version;
  }
}
