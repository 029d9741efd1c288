/**
 * A local set of revoked transactions, fed by `Store.onRevoke`, so that a verifier checks revocation (V-08) without a
 * round trip per token. Runs on Workers and Node alike (no Node APIs).
 *
 * Correctness: a revocation is never undone before its `until`, so a local hit is always a safe "revoked". A local
 * miss means "not revoked" only while the store promises its push is complete (`revocationFeedLive()` true:
 * connected, subscribed, resynchronised after the last gap). Otherwise the cache asks the store, and a
 * `StoreUnavailableError` from that call is rethrown: the caller decides fail-closed or fail-open.
 */
import type { Store } from './types.js';

export interface RevocationCacheOptions {
  /** Clock in ms (tests). Default `Date.now`. */
  now?: () => number;
  /** Upper bound on locally held entries; past it, expired entries are purged and then the oldest dropped. */
  maxEntries?: number;
}

export class RevocationCache {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #max: number;
  /** txn -> revoked until (epoch ms). */
  readonly #until = new Map<string, number>();
  readonly #unsubscribe: (() => void) | undefined;
  /** False after an overflow dropped entries: local misses prove nothing until the store resyncs. */
  #complete = true;
  #ops = 0;

  constructor(store: Store, options: RevocationCacheOptions = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#max = options.maxEntries ?? 1_000_000;
    this.#unsubscribe = store.onRevoke?.((txn, untilEpochSec) => this.#add(txn, untilEpochSec));
  }

  /** Whether this cache receives pushed revocations at all. */
  get subscribed(): boolean {
    return this.#unsubscribe !== undefined;
  }

  /** Number of revocations held locally (expired ones may linger until swept). */
  get size(): number {
    return this.#until.size;
  }

  /**
   * Answers from memory: true (revoked), false (not revoked, and the push is complete), or undefined (ask the store).
   */
  isRevokedLocal(txn: string): boolean | undefined {
    this.#sweep();
    const until = this.#until.get(txn);
    if (until !== undefined) {
      // Inclusive, like Redis (a key expires only once the clock is past its PXAT).
      if (until >= this.#now()) return true;
      this.#until.delete(txn);
    }
    if (this.#unsubscribe === undefined || !this.#complete) return undefined;
    const live = this.#store.revocationFeedLive?.() ?? false;
    return live ? false : undefined;
  }

  /** Local answer when it is conclusive, else one store round trip (which may throw `StoreUnavailableError`). */
  async isRevoked(txn: string): Promise<boolean> {
    const local = this.isRevokedLocal(txn);
    if (local !== undefined) return local;
    return this.#store.isRevoked(txn);
  }

  /** Stops listening. The store itself is not closed. */
  close(): void {
    this.#unsubscribe?.();
    this.#until.clear();
  }

  #add(txn: string, untilEpochSec: number): void {
    const until = untilEpochSec * 1000;
    if (!(until > this.#now())) return;
    const prev = this.#until.get(txn);
    if (prev !== undefined && prev >= until) return;
    if (prev === undefined && this.#until.size >= this.#max) {
      this.#purgeExpired(Number.POSITIVE_INFINITY);
      if (this.#until.size >= this.#max) {
        // Dropping an entry would turn a revoked txn into a local miss: stop trusting misses from now on.
        this.#complete = false;
        const oldest = this.#until.keys().next();
        if (!oldest.done) this.#until.delete(oldest.value);
      }
    }
    this.#until.set(txn, until);
  }

  /** Drops a bounded number of expired entries every 64 lookups. */
  #sweep(): void {
    if ((++this.#ops & 63) === 0) this.#purgeExpired(256);
  }

  #purgeExpired(budget: number): void {
    const now = this.#now();
    for (const [txn, until] of this.#until) {
      if (budget-- <= 0) break;
      if (until < now) this.#until.delete(txn);
    }
  }
}
