/**
 * A session's subscriptions by channel, with the part of the Map interface the session's
 * modules use. Most connections hold one subscription: it sits in a field of this small
 * object, and a Map (about 150 bytes more per connection) exists only while two or more do.
 * Iteration follows insertion order, as a Map's does.
 */
import type { Subscription } from './subscription.js';

const NONE: readonly Subscription[] = Object.freeze([]);

export class SubscriptionMap {
  /** The only subscription, when there is exactly one and it is keyed by its own channel. */
  private one: Subscription | undefined = undefined;
  /** Every subscription, while there are two or more (or one under a key other than its channel). */
  private many: Map<string, Subscription> | undefined = undefined;

  get size(): number {
    if (this.many !== undefined) return this.many.size;
    return this.one === undefined ? 0 : 1;
  }

  get(channel: string): Subscription | undefined {
    if (this.many !== undefined) return this.many.get(channel);
    const one = this.one;
    return one !== undefined && one.channel === channel ? one : undefined;
  }

  has(channel: string): boolean {
    return this.get(channel) !== undefined;
  }

  /** Adds or replaces the subscription of `channel`. */
  set(channel: string, sub: Subscription): this {
    if (this.many !== undefined) {
      this.many.set(channel, sub);
    } else if (this.one === undefined && sub.channel === channel) {
      this.one = sub;
    } else if (this.one !== undefined && this.one.channel === channel && sub.channel === channel) {
      this.one = sub;
    } else {
      const many = new Map<string, Subscription>();
      if (this.one !== undefined) many.set(this.one.channel, this.one);
      many.set(channel, sub);
      this.one = undefined;
      this.many = many;
    }
    return this;
  }

  /** Removes the subscription of `channel`; true when there was one. */
  delete(channel: string): boolean {
    const many = this.many;
    if (many === undefined) {
      if (this.one === undefined || this.one.channel !== channel) return false;
      this.one = undefined;
      return true;
    }
    if (!many.delete(channel)) return false;
    // Back to the field (and no Map) once one subscription under its own channel is left.
    if (many.size === 0) this.many = undefined;
    else if (many.size === 1) {
      const [key, last] = many.entries().next().value as [string, Subscription];
      if (last.channel === key) {
        this.many = undefined;
        this.one = last;
      }
    }
    return true;
  }

  /** The subscriptions in insertion order. */
  values(): IterableIterator<Subscription> {
    if (this.many !== undefined) return this.many.values();
    return (this.one === undefined ? NONE : [this.one]).values();
  }
}
