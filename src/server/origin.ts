/**
 * Origin policy for connection endpoints (client.allowed_origins): an empty list admits
 * only requests without Origin, "*" admits all, otherwise glob patterns are matched
 * against the lower-cased Origin.
 */
import picomatch from 'picomatch';

export class OriginCheck {
  private readonly any: boolean;
  private readonly matchers: ((s: string) => boolean)[];

  constructor(patterns: readonly string[]) {
    this.any = patterns.includes('*');
    this.matchers = patterns.filter((p) => p !== '*').map((p) => picomatch(p.toLowerCase(), { dot: true, bash: true }));
  }

  allowed(origin: string | undefined): boolean {
    if (origin === undefined || origin === '') return true;
    if (this.any) return true;
    const o = origin.toLowerCase();
    return this.matchers.some((m) => m(o));
  }
}
